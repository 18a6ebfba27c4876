//! Public behaviour of [`atomsync::ThreadPool`]: every task runs exactly once, results and
//! panics come back through handles (blocking, timed, or `.await`), panics never cost a
//! worker, scopes borrow, `join` recurses, `wait_idle`/`stats`, shutdown (drop finishes queued
//! tasks; `shutdown_timeout` is bounded; work submitted during shutdown still runs), builder
//! errors, and idle workers that use no CPU.
//!
//! Every test that could block forever on a bug runs under [`within`], which turns a deadlock
//! into a failure.

mod common;

use atomsync::ThreadPool;
use atomsync::pool::{BuildError, PoolStats};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicU8, AtomicUsize};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::{distinct_workers_at_once, wait_until_asleep, within};

#[test]
fn hundred_thousand_tasks_run_exactly_once() {
    within(|| {
        const TASKS: usize = 100_000;
        let pool = ThreadPool::new(4);
        let runs: Arc<Vec<AtomicU8>> = Arc::new((0..TASKS).map(|_| AtomicU8::new(0)).collect());
        for i in 0..TASKS {
            let runs = Arc::clone(&runs);
            pool.execute(move || {
                runs[i].fetch_add(1, SeqCst);
            });
        }
        pool.wait_idle();
        assert!(runs.iter().all(|count| count.load(SeqCst) == 1), "a task ran 0 or 2+ times");
        let stats = pool.stats();
        assert_eq!(stats, PoolStats { queued: 0, running: 0, completed: TASKS, panicked: 0 });
    });
}

/// `execute` from several threads into two pools, with pools and threads coming and going
/// (each thread's recycled blocks are freed when it exits, each pool's when it is dropped), some
/// tasks executing more and some panicking: every task runs exactly once, every round.
#[test]
fn execute_from_threads_that_come_and_go_into_pools_that_come_and_go() {
    within(|| {
        let ran = Arc::new(AtomicUsize::new(0));
        let mut submitted = 0;
        for round in 0..6_usize {
            let pools: Vec<Arc<ThreadPool>> = (0..2)
                .map(|i| {
                    let pool = ThreadPool::builder().num_threads(1 + (round + i) % 3);
                    Arc::new(pool.panic_handler(|_| {}).build().unwrap())
                })
                .collect();
            let submitters: Vec<_> = (0..3_usize)
                .map(|t| {
                    let (pools, ran) = (pools.clone(), Arc::clone(&ran));
                    thread::spawn(move || {
                        let mut count = 0;
                        for i in 0..2_000 + 1_000 * t {
                            let pool = &pools[(i + t) % 2];
                            let (ran, again, nested) = (Arc::clone(&ran), Arc::clone(pool), i % 7);
                            pool.execute(move || {
                                ran.fetch_add(1, SeqCst);
                                if nested == 0 {
                                    again.execute(move || {
                                        ran.fetch_add(1, SeqCst);
                                    });
                                }
                                assert!(i % 499 != 0, "task {i} panics");
                            });
                            count += 1 + usize::from(nested == 0);
                            if i % 500 == 0 {
                                pool.wait_idle();
                            }
                        }
                        count
                    })
                })
                .collect();
            submitted += submitters.into_iter().map(|t| t.join().unwrap()).sum::<usize>();
            pools.iter().for_each(|pool| pool.wait_idle());
            drop(pools);
            assert_eq!(ran.load(SeqCst), submitted, "round {round}");
        }
    });
}

#[test]
fn tasks_spawned_by_tasks_run_exactly_once() {
    within(|| {
        let pool = Arc::new(ThreadPool::new(3));
        let count = Arc::new(AtomicUsize::new(0));
        for _ in 0..100 {
            let (pool2, count) = (Arc::clone(&pool), Arc::clone(&count));
            pool.execute(move || {
                for _ in 0..100 {
                    let count = Arc::clone(&count);
                    pool2.execute(move || {
                        count.fetch_add(1, SeqCst);
                    });
                }
            });
        }
        pool.wait_idle();
        assert_eq!(count.load(SeqCst), 10_000);
        assert_eq!(pool.stats().completed, 10_100);
    });
}

#[test]
fn results_come_back_through_handles() {
    within(|| {
        let pool = ThreadPool::new(4);
        let handles: Vec<_> = (0..1000u64).map(|i| pool.spawn(move || i * 3)).collect();
        let results: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(results, (0..1000u64).map(|i| i * 3).collect::<Vec<_>>());
    });
}

#[test]
fn stats_count_queued_running_completed_panicked() {
    within(|| {
        let pool = ThreadPool::new(1);
        let (started_tx, started_rx) = mpsc::channel::<()>();
        let (release, wait) = mpsc::channel::<()>();
        pool.execute(move || {
            started_tx.send(()).unwrap();
            wait.recv().unwrap();
        });
        started_rx.recv().unwrap();
        for _ in 0..5 {
            pool.execute(|| {});
        }
        pool.execute(|| panic!("counted"));
        let stats = pool.stats();
        assert_eq!(stats, PoolStats { queued: 6, running: 1, completed: 0, panicked: 0 });
        release.send(()).unwrap();
        pool.wait_idle();
        let stats = pool.stats();
        assert_eq!(stats, PoolStats { queued: 0, running: 0, completed: 6, panicked: 1 });
    });
}

#[test]
fn wait_idle_waits_for_a_scope_on_another_thread() {
    within(|| {
        let pool = Arc::new(ThreadPool::new(2));
        let done = Arc::new(AtomicUsize::new(0));
        let (entered_tx, entered_rx) = mpsc::channel::<()>();
        let scoper = {
            let (pool, done) = (Arc::clone(&pool), Arc::clone(&done));
            thread::spawn(move || {
                pool.scope(|s| {
                    entered_tx.send(()).unwrap();
                    for _ in 0..50 {
                        s.spawn(|| {
                            thread::sleep(Duration::from_millis(1));
                            done.fetch_add(1, SeqCst);
                        });
                    }
                })
            })
        };
        entered_rx.recv().unwrap();
        pool.wait_idle();
        assert_eq!(done.load(SeqCst), 50, "wait_idle returned while scoped tasks ran");
        scoper.join().unwrap();
    });
}

#[test]
fn join_timeout_and_is_finished() {
    within(|| {
        let pool = ThreadPool::new(1);
        let (release, wait) = mpsc::channel::<()>();
        let handle = pool.spawn(move || {
            wait.recv().unwrap();
            7
        });
        assert!(!handle.is_finished());
        let start = Instant::now();
        let handle = handle.join_timeout(Duration::from_millis(50)).unwrap_err();
        assert!(start.elapsed() >= Duration::from_millis(50));
        release.send(()).unwrap();
        let value = handle.join_timeout(Duration::from_secs(30)).map_err(|_| "timed out");
        assert_eq!(value.unwrap().unwrap(), 7);

        let done = pool.spawn(|| ());
        while !done.is_finished() {
            thread::yield_now();
        }
        assert!(done.join_timeout(Duration::ZERO).is_ok());
    });
}

#[test]
fn panics_return_err_and_keep_every_worker() {
    within(|| {
        const WORKERS: usize = 4;
        let pool = ThreadPool::new(WORKERS);
        let handles: Vec<_> =
            (0..1000).map(|i| pool.spawn(move || -> u32 { panic!("task {i} fails") })).collect();
        for (i, handle) in handles.into_iter().enumerate() {
            let payload = handle.join().unwrap_err();
            let message = payload.downcast_ref::<String>().expect("a formatted panic message");
            assert_eq!(*message, format!("task {i} fails"));
        }
        // N tasks that all must be running at once (the barrier) on N distinct threads.
        assert_eq!(distinct_workers_at_once(&pool), WORKERS);
        pool.wait_idle();
        assert_eq!(pool.stats().panicked, 1000);
        assert_eq!(pool.stats().completed, WORKERS);
    });
}

#[test]
fn execute_panics_are_counted_and_reported() {
    within(|| {
        let reported = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&reported);
        let pool = ThreadPool::builder()
            .num_threads(2)
            .panic_handler(move |payload| {
                assert_eq!(payload.downcast_ref::<&str>(), Some(&"fire and forget"));
                seen.fetch_add(1, SeqCst);
            })
            .build()
            .unwrap();
        for _ in 0..100 {
            pool.execute(|| panic!("fire and forget"));
        }
        // A handler that panics itself is contained too.
        let pool2 = ThreadPool::builder()
            .num_threads(1)
            .panic_handler(|_| panic!("the handler fails"))
            .build()
            .unwrap();
        pool2.execute(|| panic!("first"));
        pool2.wait_idle();
        assert_eq!(pool2.spawn(|| 5).join().unwrap(), 5);

        pool.wait_idle();
        assert_eq!(reported.load(SeqCst), 100);
        assert_eq!(pool.stats().panicked, 100);
        assert_eq!(pool.spawn(|| 1).join().unwrap(), 1);
    });
}

#[test]
fn scope_borrows_and_mutates_disjoint_chunks() {
    within(|| {
        let pool = ThreadPool::new(4);
        let mut data = vec![0u64; 10_000];
        let offset = 5; // a borrowed local
        pool.scope(|s| {
            for (index, chunk) in data.chunks_mut(100).enumerate() {
                let offset = &offset;
                s.spawn(move || {
                    for (i, x) in chunk.iter_mut().enumerate() {
                        *x = (index * 100 + i) as u64 + *offset;
                    }
                });
            }
        });
        assert!(data.iter().enumerate().all(|(i, &x)| x == i as u64 + 5));
    });
}

#[test]
fn scope_tasks_spawn_more_tasks() {
    within(|| {
        let pool = ThreadPool::new(3);
        let count = AtomicUsize::new(0);
        pool.scope(|s| {
            for _ in 0..10 {
                s.spawn(|| {
                    for _ in 0..10 {
                        s.spawn(|| {
                            count.fetch_add(1, SeqCst);
                        });
                    }
                });
            }
        });
        assert_eq!(count.load(SeqCst), 100);
    });
}

#[test]
fn scope_reraises_a_task_panic_after_all_tasks_finish() {
    within(|| {
        let pool = ThreadPool::new(2);
        let finished = AtomicUsize::new(0);
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            pool.scope(|s| {
                s.spawn(|| panic!("scoped task fails"));
                for _ in 0..20 {
                    s.spawn(|| {
                        thread::sleep(Duration::from_millis(2));
                        finished.fetch_add(1, SeqCst);
                    });
                }
            })
        }));
        let payload = result.unwrap_err();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"scoped task fails"));
        assert_eq!(finished.load(SeqCst), 20, "scope returned before its tasks finished");
        // The pool is fine afterwards.
        assert_eq!(pool.spawn(|| 3).join().unwrap(), 3);
    });
}

#[test]
fn scope_inside_a_task() {
    within(|| {
        let pool = Arc::new(ThreadPool::new(2));
        let inner = Arc::clone(&pool);
        let sum = pool
            .spawn(move || {
                let values: Vec<u64> = (1..=100).collect();
                let total = AtomicUsize::new(0);
                inner.scope(|s| {
                    for chunk in values.chunks(10) {
                        let total = &total;
                        s.spawn(move || {
                            total.fetch_add(chunk.iter().sum::<u64>() as usize, SeqCst);
                        });
                    }
                });
                total.load(SeqCst)
            })
            .join()
            .unwrap();
        assert_eq!(sum, 5050);
    });
}

fn fib(pool: &ThreadPool, n: u32) -> u64 {
    if n < 2 {
        return n.into();
    }
    let (a, b) = pool.join(|| fib(pool, n - 1), || fib(pool, n - 2));
    a + b
}

#[test]
fn nested_join_computes_fib_25() {
    within(|| {
        let pool = Arc::new(ThreadPool::new(4));
        // From outside the pool (submitted as one task) ...
        assert_eq!(fib(&pool, 25), 75_025);
        // ... and from inside a task.
        let inner = Arc::clone(&pool);
        assert_eq!(pool.spawn(move || fib(&inner, 25)).join().unwrap(), 75_025);
    });
}

#[test]
fn install_runs_on_a_worker() {
    within(|| {
        let pool = ThreadPool::builder()
            .num_threads(2)
            .thread_name(|i| format!("install-{i}"))
            .build()
            .unwrap();
        let name = pool.install(|| thread::current().name().map(str::to_owned));
        assert!(name.unwrap().starts_with("install-"));
        // A scope inside `install` borrows as usual.
        let mut data = vec![1u64; 1000];
        pool.install(|| {
            pool.scope(|s| {
                for x in data.iter_mut() {
                    s.spawn(move || *x *= 3);
                }
            })
        });
        assert!(data.iter().all(|&x| x == 3));
        // Nested: already on a worker, runs inline.
        assert_eq!(pool.install(|| pool.install(|| 5)), 5);
        let result = panic::catch_unwind(AssertUnwindSafe(|| pool.install(|| panic!("installed"))));
        assert_eq!(result.unwrap_err().downcast_ref::<&str>(), Some(&"installed"));
        pool.wait_idle();
        assert_eq!(pool.stats().panicked, 1);
    });
}

#[test]
fn join_propagates_panics() {
    within(|| {
        let pool = ThreadPool::new(2);
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            pool.join(|| 1, || -> u32 { panic!("b fails") })
        }));
        assert_eq!(result.unwrap_err().downcast_ref::<&str>(), Some(&"b fails"));
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            pool.join(|| -> u32 { panic!("a fails") }, || 2)
        }));
        assert_eq!(result.unwrap_err().downcast_ref::<&str>(), Some(&"a fails"));
        assert_eq!(pool.join(|| 1, || 2), (1, 2));
    });
}

#[test]
fn await_a_handle_from_a_minimal_executor() {
    within(|| {
        let pool = ThreadPool::new(2);
        let (release, wait) = mpsc::channel::<()>();
        let slow = pool.spawn(move || {
            wait.recv().unwrap();
            "late"
        });
        // Release the task only once the executor (this thread) sleeps in `block_on`: the first
        // poll was then Pending, and only the waker can wake it.
        let executor = common::current_thread_id();
        let releaser = thread::spawn(move || {
            wait_until_asleep(executor);
            release.send(()).unwrap();
        });
        assert_eq!(pollster::block_on(slow).unwrap(), "late");
        releaser.join().unwrap();
        let failing = pool.spawn(|| -> u8 { panic!("awaited panic") });
        assert!(pollster::block_on(failing).is_err());
        let values = pollster::block_on(async {
            let a = pool.spawn(|| 1);
            let b = pool.spawn(|| 2);
            a.await.unwrap() + b.await.unwrap()
        });
        assert_eq!(values, 3);
    });
}

#[test]
fn dropped_handle_detaches_the_task() {
    within(|| {
        let pool = ThreadPool::new(2);
        let ran = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&ran);
        drop(pool.spawn(move || {
            thread::sleep(Duration::from_millis(10));
            seen.fetch_add(1, SeqCst);
            vec![1u8; 100] // dropped by whoever drops the cell last
        }));
        pool.wait_idle();
        assert_eq!(ran.load(SeqCst), 1);
    });
}

#[test]
fn drop_waits_for_queued_tasks() {
    within(|| {
        let count = Arc::new(AtomicUsize::new(0));
        let pool = ThreadPool::new(2);
        for _ in 0..200 {
            let count = Arc::clone(&count);
            pool.execute(move || {
                thread::sleep(Duration::from_micros(200));
                count.fetch_add(1, SeqCst);
            });
        }
        drop(pool);
        assert_eq!(count.load(SeqCst), 200);
    });
}

#[test]
fn shutdown_timeout_is_bounded_and_work_during_shutdown_still_runs() {
    within(|| {
        let pool = Arc::new(ThreadPool::new(2));
        let (release, wait) = mpsc::channel::<()>();
        let child_ran = Arc::new(AtomicUsize::new(0));
        let (inner, seen) = (Arc::clone(&pool), Arc::clone(&child_ran));
        pool.execute(move || {
            wait.recv().unwrap();
            // Spawned by a task while the pool shuts down: still runs.
            inner.execute(move || {
                seen.fetch_add(1, SeqCst);
            });
        });
        let start = Instant::now();
        assert!(!pool.shutdown_timeout(Duration::from_millis(100)));
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(100), "returned after {waited:?}");
        assert!(waited < Duration::from_secs(10), "returned after {waited:?}");
        release.send(()).unwrap();
        assert!(pool.shutdown_timeout(Duration::from_secs(30)));
        assert_eq!(child_ran.load(SeqCst), 1);
        // After shutdown, work from outside runs on the calling thread.
        let caller = thread::current().id();
        let handle = pool.spawn(move || thread::current().id());
        assert!(handle.is_finished());
        assert_eq!(handle.join().unwrap(), caller);
        assert_eq!(pool.join(|| 1, || 2), (1, 2));
        let mut borrowed = 0;
        pool.scope(|s| s.spawn(|| borrowed += 1));
        assert_eq!(borrowed, 1);
    });
}

#[test]
fn last_pool_reference_dropped_on_a_worker_does_not_deadlock() {
    within(|| {
        let pool = Arc::new(ThreadPool::new(2));
        let inner = Arc::clone(&pool);
        let (dropped_tx, dropped_rx) = mpsc::channel::<()>();
        let handle = pool.spawn(move || {
            dropped_rx.recv().unwrap();
            drop(inner); // now the last reference
        });
        drop(pool);
        dropped_tx.send(()).unwrap();
        handle.join().unwrap();
    });
}

#[test]
fn builder_errors_and_options() {
    within(|| {
        assert!(matches!(
            ThreadPool::builder().num_threads(0).build(),
            Err(BuildError::ZeroThreads)
        ));
        let error = ThreadPool::builder().num_threads(0).build().unwrap_err();
        assert_eq!(error.to_string(), "a thread pool needs at least one thread");
        assert!(panic::catch_unwind(|| ThreadPool::new(0)).is_err());

        // A stack no machine can map: the spawn fails, as an error.
        match ThreadPool::builder().num_threads(2).stack_size(1 << 50).build() {
            Err(BuildError::Spawn(_)) => {}
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("a 1 PiB stack was accepted"),
        }

        let pool = ThreadPool::builder()
            .num_threads(3)
            .thread_name(|i| format!("named-{i}"))
            .stack_size(256 * 1024)
            .build()
            .unwrap();
        assert_eq!(pool.num_threads(), 3);
        let name = pool.spawn(|| thread::current().name().map(str::to_owned)).join().unwrap();
        assert!(name.unwrap().starts_with("named-"));

        let default = ThreadPool::builder().build().unwrap();
        let expected = thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(default.num_threads(), expected);
    });
}

/// The kernel ids of this process's threads whose name starts with `prefix`.
#[cfg(target_os = "linux")]
fn threads_named(prefix: &str) -> Vec<u32> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| {
            let path = task.ok()?.path();
            let comm = std::fs::read_to_string(path.join("comm")).ok()?;
            comm.starts_with(prefix).then(|| path.file_name()?.to_str()?.parse().ok()).flatten()
        })
        .collect()
}

/// CPU time (user + system, in clock ticks) of the process's threads whose name starts with
/// `prefix`, from `/proc/self/task/*/stat`.
#[cfg(target_os = "linux")]
fn cpu_ticks_of_threads(prefix: &str) -> u64 {
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let path = task.unwrap().path();
        let Ok(comm) = std::fs::read_to_string(path.join("comm")) else {
            continue;
        };
        if !comm.starts_with(prefix) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(path.join("stat")) else {
            continue;
        };
        // Fields after the parenthesised name: state is field 3; utime 14, stime 15.
        let after_name = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        total += fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    }
    total
}

/// Idle workers sleep: over 300 ms of idleness they use less than 20 ms of CPU. Measured per
/// worker thread (`/proc/self/task`), since the other tests of this binary run concurrently
/// in the same process.
#[cfg(target_os = "linux")]
#[test]
fn idle_workers_use_no_cpu() {
    within(|| {
        let pool = ThreadPool::builder()
            .num_threads(4)
            .thread_name(|i| format!("idlecheck-{i}"))
            .build()
            .unwrap();
        for _ in 0..1000 {
            pool.execute(|| {
                std::hint::black_box((0..100).sum::<u64>());
            });
        }
        pool.wait_idle();
        // Measure only once every worker is past its spin-before-sleep phase, asleep.
        for worker in threads_named("idlecheck-") {
            wait_until_asleep(Some(worker));
        }
        // SAFETY: sysconf has no preconditions.
        let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
        let before = cpu_ticks_of_threads("idlecheck-");
        thread::sleep(Duration::from_millis(300));
        let used = cpu_ticks_of_threads("idlecheck-") - before;
        let used_ms = used * 1000 / ticks_per_second;
        assert!(used_ms < 20, "idle workers used {used_ms} ms of CPU in 300 ms");
        drop(pool);
    });
}
