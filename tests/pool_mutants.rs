//! ThreadPool paths that `tests/pool.rs` and `tests/pool_panics.rs` execute without pinning down
//! (found by cargo-mutants, `docs/testing.md`): the `Debug` texts and `BuildError::source`; a
//! `JoinHandle` polled twice, and `join_timeout` after an earlier timeout or a poll; which
//! thread runs the tasks of a scope opened outside the pool (its tickets, its owner check);
//! exact counts for tasks run by threads outside the pool; values the pool discards on a
//! re-raise; `wait_idle` callers that sleep; every worker's deque visible to thieves; and two
//! races: a task submitted as the last pending one ends while `wait_idle` callers are woken (a
//! stress test), and a push into the injector that ends after the workers exited (made certain:
//! this binary's allocator can stop a thread in an allocation).
//!
//! Each test waits for real conditions (a thread asleep in a futex wait, seen in /proc; a
//! barrier; a channel) and runs under [`within`], so a mutant that hangs fails the test.

mod common;

use atomsync::ThreadPool;
use atomsync::pool::{BuildError, JoinHandle, PoolStats};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashSet;
use std::error::Error;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Barrier, Mutex, mpsc};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::Duration;

use common::{
    block_every_worker, counting_pool, current_thread_id, spawn_watched, wait_until_asleep, within,
};

/// A value whose `Drop` panics.
#[derive(Debug)]
struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("Bomb dropped");
    }
}

#[test]
fn build_errors_name_their_source() {
    let zero = ThreadPool::builder().num_threads(0).build().unwrap_err();
    assert!(zero.source().is_none(), "ZeroThreads has no underlying error");
    // More threads than the pool can count: a `Spawn` error, before any thread is started.
    let too_many = ThreadPool::builder().num_threads(u32::MAX as usize + 1).build().unwrap_err();
    let BuildError::Spawn(ref io_error) = too_many else {
        panic!("expected BuildError::Spawn, got {too_many:?}");
    };
    let source = too_many.source().expect("a Spawn error has its io::Error as its source");
    let source = source.downcast_ref::<std::io::Error>().expect("the source is the io::Error");
    assert_eq!(source.kind(), std::io::ErrorKind::InvalidInput);
    assert_eq!(source.to_string(), io_error.to_string());
}

#[test]
fn debug_texts_of_builder_pool_handle_and_scope() {
    within(|| {
        let builder = ThreadPool::builder().num_threads(1).thread_name(|i| format!("debug-{i}"));
        assert_eq!(
            format!("{builder:?}"),
            "Builder { num_threads: Some(1), thread_name: true, stack_size: None, \
             panic_handler: false }"
        );
        let builder = builder.stack_size(1 << 20).panic_handler(|_| {});
        assert_eq!(
            format!("{builder:?}"),
            "Builder { num_threads: Some(1), thread_name: true, stack_size: Some(1048576), \
             panic_handler: true }"
        );
        let pool = builder.build().unwrap();
        assert_eq!(
            format!("{pool:?}"),
            "ThreadPool { num_threads: 1, stats: PoolStats { queued: 0, running: 0, \
             completed: 0, panicked: 0 } }"
        );

        let (release, gate) = mpsc::channel::<()>();
        let handle = pool.spawn(move || gate.recv().unwrap());
        assert_eq!(format!("{handle:?}"), "JoinHandle { finished: false }");
        release.send(()).unwrap();
        pool.wait_idle();
        assert_eq!(format!("{handle:?}"), "JoinHandle { finished: true }");
        handle.join().unwrap();
        assert_eq!(
            format!("{pool:?}"),
            "ThreadPool { num_threads: 1, stats: PoolStats { queued: 0, running: 0, \
             completed: 1, panicked: 0 } }"
        );

        let (release, gate) = mpsc::channel::<()>();
        pool.scope(|s| {
            assert_eq!(format!("{s:?}"), "Scope { pending: 1 }");
            // Unfinished until released: counted in `pending` whoever took it.
            s.spawn(move || gate.recv().unwrap());
            assert_eq!(format!("{s:?}"), "Scope { pending: 2 }");
            release.send(()).unwrap();
        });
    });
}

/// Calls `handle.join_timeout(timeout)` on a helper thread and returns the handle it gives back
/// (the task must still be running). If the call has not returned within 10 s, `release`
/// ends the task (so that the helper's wait ends too) and the test fails.
fn times_out(
    handle: JoinHandle<u32>,
    timeout: Duration,
    release: &mpsc::Sender<()>,
) -> JoinHandle<u32> {
    let (result_tx, result_rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = result_tx.send(handle.join_timeout(timeout));
    });
    match result_rx.recv_timeout(Duration::from_secs(10)) {
        Ok(Err(handle)) => handle,
        Ok(Ok(_)) => panic!("join_timeout returned a value, but the task is still blocked"),
        Err(_) => {
            release.send(()).unwrap();
            panic!("join_timeout({timeout:?}) did not return within 10 s");
        }
    }
}

/// `join_timeout` keeps its timeout also when an earlier `join_timeout` timed out (which
/// leaves the cell's SLEEPING bit set) and after a `poll` registered a waker (WAKER_SET): its
/// futex wait must expect the word as it is, or the wait returns at once, again and again.
#[test]
fn join_timeout_times_out_after_a_timeout_and_after_a_poll() {
    within(|| {
        let pool = ThreadPool::new(1);
        let (release, gate) = mpsc::channel::<()>();
        let handle = pool.spawn(move || {
            gate.recv().unwrap();
            7
        });
        let timeout = Duration::from_millis(20);
        let handle = times_out(handle, timeout, &release);
        let mut handle = times_out(handle, timeout, &release);
        let mut context = Context::from_waker(Waker::noop());
        assert!(Pin::new(&mut handle).poll(&mut context).is_pending());
        let handle = times_out(handle, timeout, &release);
        release.send(()).unwrap();
        assert_eq!(handle.join().unwrap(), 7);
    });
}

/// Counts its wake-ups.
#[derive(Default)]
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// A handle polled twice before the task finishes (an executor may poll again at any time)
/// still has its waker woken, once, when the task finishes.
#[test]
fn a_handle_polled_twice_is_woken_when_the_task_finishes() {
    within(|| {
        let pool = ThreadPool::new(1);
        let (release, gate) = mpsc::channel::<()>();
        let mut handle = pool.spawn(move || {
            gate.recv().unwrap();
            5
        });
        let wakes = Arc::new(CountingWaker::default());
        let waker = Waker::from(Arc::clone(&wakes));
        let mut context = Context::from_waker(&waker);
        for _ in 0..2 {
            assert!(Pin::new(&mut handle).poll(&mut context).is_pending());
        }
        release.send(()).unwrap();
        // The task's end (and its wake) comes before its `pending` unit is released.
        pool.wait_idle();
        assert_eq!(wakes.0.load(SeqCst), 1, "the twice-registered waker was not woken once");
        assert!(matches!(Pin::new(&mut handle).poll(&mut context), Poll::Ready(Ok(5))));
    });
}

/// A task spawned into a scope opened outside the pool, from a third thread (neither the
/// scope's owner nor a worker), goes to the pool's injector, not to the owner's own queue: the
/// owner, waiting for the scope with every worker blocked, does not run it (only the owner may
/// touch its queue; a push from another thread would race with the owner's pops).
#[test]
fn a_scoped_task_spawned_by_a_third_thread_is_not_run_by_the_owner() {
    within(|| {
        let pool = ThreadPool::new(2);
        let release = block_every_worker(&pool);
        let owner = thread::current().id();
        let owner_id = current_thread_id();
        let ran_on = Mutex::new(None);
        pool.scope(|s| {
            thread::scope(|threads| {
                threads
                    .spawn(|| s.spawn(|| *ran_on.lock().unwrap() = Some(thread::current().id())));
            });
            // Free the workers once the owner sleeps waiting for the task.
            let release = release.clone();
            thread::spawn(move || {
                wait_until_asleep(owner_id);
                for _ in 0..2 {
                    let _ = release.send(());
                }
            });
        });
        let ran_on = ran_on.lock().unwrap().expect("the task ran");
        if ran_on == owner {
            for _ in 0..2 {
                let _ = release.send(());
            }
            panic!("the scope's owner ran a task spawned by another thread");
        }
        pool.wait_idle();
        assert_eq!(pool.stats(), PoolStats { queued: 0, running: 0, completed: 3, panicked: 0 });
    });
}

/// While the thread that opened a scope outside the pool is busy in the scope's closure, the
/// scope's tasks run on the workers (through the tickets the scope puts in the injector), all
/// workers at once, round after round (a ticket taken makes room for the next one).
#[test]
fn an_outside_scope_keeps_every_worker_busy_round_after_round() {
    within(|| {
        const WORKERS: usize = 2;
        let pool = ThreadPool::new(WORKERS);
        let owner = thread::current().id();
        pool.scope(|s| {
            for round in 0..3 {
                let barrier = Arc::new(Barrier::new(WORKERS));
                let (ran_tx, ran_rx) = mpsc::channel();
                for _ in 0..WORKERS {
                    let (barrier, ran_tx) = (Arc::clone(&barrier), ran_tx.clone());
                    s.spawn(move || {
                        barrier.wait();
                        ran_tx.send(thread::current().id()).unwrap();
                    });
                }
                // Only the workers can run them: this thread waits here, in the closure.
                let ran: HashSet<_> = (0..WORKERS).map(|_| ran_rx.recv().unwrap()).collect();
                assert_eq!(ran.len(), WORKERS, "round {round}: not on {WORKERS} threads");
                assert!(!ran.contains(&owner), "round {round}: the busy owner ran a task");
            }
        });
        pool.wait_idle();
        let completed = 3 * WORKERS;
        assert_eq!(pool.stats(), PoolStats { queued: 0, running: 0, completed, panicked: 0 });
    });
}

/// Pins the calling thread to the `index`-th CPU it may run on (modulo their number), so that
/// threads pinned with different indices really run at the same time on a busy machine.
#[cfg(target_os = "linux")]
fn pin_to_cpu(index: usize) {
    // SAFETY: `cpu_set_t` is plain data (all zeroes is the empty set); the calls only read and
    // write the set we pass, for the calling thread (pid 0).
    unsafe {
        let size = std::mem::size_of::<libc::cpu_set_t>();
        let mut allowed: libc::cpu_set_t = std::mem::zeroed();
        assert_eq!(libc::sched_getaffinity(0, size, &mut allowed), 0);
        let cpus: Vec<usize> =
            (0..libc::CPU_SETSIZE as usize).filter(|&cpu| libc::CPU_ISSET(cpu, &allowed)).collect();
        let mut pinned: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpus[index % cpus.len()], &mut pinned);
        assert_eq!(libc::sched_setaffinity(0, size, &pinned), 0);
    }
}

#[cfg(not(target_os = "linux"))]
fn pin_to_cpu(_index: usize) {}

/// After the shutdown, tasks submitted from other threads run on those threads and are
/// counted in the one slot of the counters that all threads outside the pool share: with two
/// of them updating it at the same instants (on two CPUs; each task waits until the other
/// thread's task of the same round runs too), every task is still counted.
#[test]
fn tasks_run_by_threads_outside_the_pool_are_all_counted() {
    within(|| {
        const THREADS: usize = 2;
        const ROUNDS: usize = 2_000;
        let pool = ThreadPool::new(1);
        assert!(pool.shutdown_timeout(Duration::from_secs(30)));
        let arrived = Arc::new(AtomicUsize::new(0));
        thread::scope(|threads| {
            for index in 0..THREADS {
                let (pool, arrived) = (&pool, &arrived);
                threads.spawn(move || {
                    pin_to_cpu(index);
                    for round in 1..=ROUNDS {
                        let arrived = Arc::clone(arrived);
                        // Runs here, on this thread: the pool has shut down.
                        pool.execute(move || {
                            arrived.fetch_add(1, SeqCst);
                            let mut spins = 0u32;
                            while arrived.load(SeqCst) < round * THREADS {
                                spins += 1;
                                if spins.is_multiple_of(1024) {
                                    thread::yield_now();
                                }
                                std::hint::spin_loop();
                            }
                        });
                    }
                });
            }
        });
        pool.wait_idle();
        let completed = THREADS * ROUNDS;
        assert_eq!(pool.stats(), PoolStats { queued: 0, running: 0, completed, panicked: 0 });
    });
}

/// The message of a `&str` panic payload.
fn message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload.downcast_ref::<&str>().copied().unwrap_or("(not a &str payload)")
}

/// When `scope` or `join` re-raises one panic, the value or payload it throws away (the
/// closure's value, a task's payload, the other half's result) is dropped by the pool, and a
/// panic of that drop goes to the panic handler: it does not replace the panic re-raised.
#[test]
fn values_discarded_on_a_reraise_go_to_the_handler() {
    within(|| {
        let (pool, reported) = counting_pool(1);
        for on_worker in [false, true] {
            let run = |f: &(dyn Fn() + Sync)| {
                let caught = || panic::catch_unwind(AssertUnwindSafe(f)).map(drop);
                let result = if on_worker { pool.install(caught) } else { caught() };
                result.expect_err("the call re-raises a panic")
            };
            // The closure's value, when a task panicked.
            let payload = run(&|| {
                drop(pool.scope(|s| {
                    s.spawn(|| panic!("task fails"));
                    Bomb
                }))
            });
            assert_eq!(message(&*payload), "task fails", "on_worker: {on_worker}");
            // A task's payload, when the closure panicked.
            let payload = run(&|| {
                pool.scope(|s| {
                    s.spawn(|| panic::panic_any(Bomb));
                    panic!("closure fails");
                })
            });
            assert_eq!(message(&*payload), "closure fails", "on_worker: {on_worker}");
            // `a`'s result, when `b` panicked.
            let payload = run(&|| drop(pool.join(|| Bomb, || -> () { panic!("b fails") })));
            assert_eq!(message(&*payload), "b fails", "on_worker: {on_worker}");
            // `b`'s result, when `a` panicked (from outside the pool this aborted the process:
            // the unwind dropped `b`'s value, and its `Drop` panicked during the unwind).
            let payload = run(&|| drop(pool.join(|| -> () { panic!("a fails") }, || Bomb)));
            assert_eq!(message(&*payload), "a fails", "on_worker: {on_worker}");
        }
        pool.wait_idle();
        assert_eq!(reported.load(SeqCst), 8, "each discarded drop's panic goes to the handler");
        // The pool still works: every worker alive, the counts exact.
        assert_eq!(pool.join(|| 1, || 2), (1, 2));
        assert_eq!(common::distinct_workers_at_once(&pool), 1);
    });
}

/// `wait_idle` sleeps (in a futex wait) while tasks are pending, also when a second caller
/// waits at the same time (the first has already marked the word), and both return once the
/// pool is idle.
#[test]
fn wait_idle_callers_sleep_until_the_pool_is_idle() {
    within(|| {
        let pool = Arc::new(ThreadPool::new(1));
        let (release, gate) = mpsc::channel::<()>();
        let (started_tx, started_rx) = mpsc::channel::<()>();
        pool.execute(move || {
            started_tx.send(()).unwrap();
            gate.recv().unwrap();
        });
        started_rx.recv().unwrap();
        let wait_idle = || {
            let pool = Arc::clone(&pool);
            spawn_watched(move || pool.wait_idle())
        };
        let (first, first_id) = wait_idle();
        wait_until_asleep(first_id);
        let (second, second_id) = wait_idle();
        wait_until_asleep(second_id);
        release.send(()).unwrap();
        first.join().unwrap();
        second.join().unwrap();
        assert_eq!(pool.stats(), PoolStats { queued: 0, running: 0, completed: 1, panicked: 0 });
    });
}

/// The index of the worker running this task, from its default name `atomsync-pool-<index>`.
fn worker_index() -> usize {
    let name = thread::current().name().map(str::to_owned).expect("a worker has a name");
    name.strip_prefix("atomsync-pool-").and_then(|i| i.parse().ok()).expect("a pool worker")
}

/// Thieves look into every worker's deque: on each worker in turn (the other workers idle), a
/// `join` whose `a` waits until `b` has started elsewhere completes, i.e. an idle worker stole
/// `b` from that worker's deque.
#[test]
fn every_workers_deque_is_stolen_from() {
    within(|| {
        const WORKERS: usize = 4;
        let pool = Arc::new(ThreadPool::new(WORKERS));
        for target in 0..WORKERS {
            // One task per worker (all at the barrier at once); the one on worker `target`
            // joins, the others return and leave their workers idle.
            let barrier = Arc::new(Barrier::new(WORKERS));
            let handles: Vec<_> = (0..WORKERS)
                .map(|_| {
                    let (barrier, inner) = (Arc::clone(&barrier), Arc::clone(&pool));
                    pool.spawn(move || {
                        barrier.wait();
                        if worker_index() != target {
                            return None;
                        }
                        let b_started = AtomicBool::new(false);
                        let (_, thief) = inner.join(
                            || {
                                while !b_started.load(SeqCst) {
                                    thread::yield_now();
                                }
                            },
                            || {
                                b_started.store(true, SeqCst);
                                worker_index()
                            },
                        );
                        Some(thief)
                    })
                })
                .collect();
            let thieves: Vec<usize> =
                handles.into_iter().filter_map(|handle| handle.join().unwrap()).collect();
            assert_eq!(thieves.len(), 1, "exactly one task ran on worker {target}");
            assert_ne!(thieves[0], target, "b was stolen, so it ran on another worker");
        }
    });
}

/// `wait_idle` callers and a submitter at once, many times over: a task submitted just as the
/// last pending one finishes (while the `wait_idle` callers are being woken) stays counted in
/// `pending`, so the count never underflows and the last `wait_idle` returns with exact stats.
/// (Stress: the worker and the submitter run on two CPUs.)
#[test]
fn wait_idle_races_a_submitter() {
    within(|| {
        const TASKS: usize = 20_000;
        let pool = ThreadPool::new(1);
        pool.execute(|| pin_to_cpu(0));
        pool.wait_idle();
        let submitted = AtomicBool::new(false);
        thread::scope(|threads| {
            threads.spawn(|| {
                pin_to_cpu(1);
                // One task at a time: the next is submitted as the last one ends, when the
                // count goes 1 -> 0 and the `wait_idle` caller (if asleep) is woken.
                let ended = Arc::new(AtomicUsize::new(0));
                for task in 1..=TASKS {
                    let end = Arc::clone(&ended);
                    pool.execute(move || {
                        end.fetch_add(1, SeqCst);
                    });
                    let mut spins = 0u32;
                    while ended.load(SeqCst) < task {
                        spins += 1;
                        if spins.is_multiple_of(1024) {
                            thread::yield_now();
                        }
                        std::hint::spin_loop();
                    }
                }
                submitted.store(true, SeqCst);
            });
            threads.spawn(|| {
                while !submitted.load(SeqCst) {
                    pool.wait_idle();
                }
            });
        });
        pool.wait_idle();
        let completed = TASKS + 1;
        assert_eq!(pool.stats(), PoolStats { queued: 0, running: 0, completed, panicked: 0 });
    });
}

/// The allocator of this test binary: the system's, except that a thread that armed
/// [`STALL_ARMED`] stops in its next allocation of 1 KiB or more (and disarms) until
/// [`STALL_RELEASE`] is set; [`STALLED`] tells that it stopped. Only
/// `a_push_that_ends_after_the_workers_exited_is_run_by_its_submitter` arms it.
struct StallingAllocator;

static STALLED: AtomicBool = AtomicBool::new(false);
static STALL_RELEASE: AtomicBool = AtomicBool::new(false);

thread_local! {
    static STALL_ARMED: Cell<bool> = const { Cell::new(false) };
}

impl StallingAllocator {
    fn maybe_stall(size: usize) {
        // `try_with`: no panic in a thread's teardown; the const-initialised `Cell` itself
        // neither allocates nor registers a destructor.
        if size >= 1024 && STALL_ARMED.try_with(|armed| armed.replace(false)).unwrap_or(false) {
            STALLED.store(true, SeqCst);
            while !STALL_RELEASE.load(SeqCst) {
                thread::yield_now();
            }
        }
    }
}

// SAFETY: every call is forwarded to `System` with the same arguments; the stall only delays.
unsafe impl GlobalAlloc for StallingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Self::maybe_stall(layout.size());
        // SAFETY: forwarded (the caller's contract).
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        Self::maybe_stall(layout.size());
        // SAFETY: forwarded.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: StallingAllocator = StallingAllocator;

/// A submission from outside the pool that checked the shutdown flag before the shutdown but
/// pushes into the injector only after the last worker looked there for the last time and
/// exited: its submitter sees the flag after the push and runs the task itself. Made certain,
/// not left to chance: the submitter stops inside the push, in the allocation of the
/// injector's next block (crossbeam-deque allocates it before it reserves the slot, once every
/// 63 pushes), while the pool shuts down.
#[test]
fn a_push_that_ends_after_the_workers_exited_is_run_by_its_submitter() {
    within(|| {
        let pool = ThreadPool::new(1);
        let ran = Arc::new(Mutex::new(Vec::new()));
        thread::scope(|threads| {
            let submitter = threads.spawn(|| {
                let me = thread::current().id();
                let mut submitted = 0;
                STALL_ARMED.with(|armed| armed.set(true));
                // Until a submission stalled (at the latest the 63rd: a new block).
                while STALL_ARMED.with(Cell::get) {
                    assert!(submitted < 1000, "no injector block was allocated");
                    let ran = Arc::clone(&ran);
                    pool.execute(move || ran.lock().unwrap().push(thread::current().id()));
                    submitted += 1;
                }
                (me, submitted)
            });
            while !STALLED.load(SeqCst) {
                assert!(!submitter.is_finished(), "the submitter ended without stalling");
                thread::yield_now();
            }
            // The stalled push has read the flag (not set) and not reserved its slot yet.
            assert!(pool.shutdown_timeout(Duration::from_secs(30)), "the worker did not exit");
            STALL_RELEASE.store(true, SeqCst);
            let (submitter, submitted) = submitter.join().unwrap();
            let ran = ran.lock().unwrap();
            assert_eq!(ran.len(), submitted, "a task pushed during the shutdown never ran");
            assert_eq!(ran.last(), Some(&submitter), "the last task ran on its submitter");
        });
    });
}
