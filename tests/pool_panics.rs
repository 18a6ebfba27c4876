//! The ThreadPool against user code that misbehaves, and against blocked workers and callers
//! outside the pool (issue 9): panics in result drops, in payload drops, in wakers and in the
//! panic handler never cost a worker, never leave a job pointing into a dead stack frame, and
//! never stop `scope`/`join`/`wait_idle`/`Drop` from returning; `join` runs both closures;
//! a waiting worker keeps running work; `join`/`scope` from outside the pool complete when
//! every worker is blocked; `shutdown_timeout` bounds the drop.
//!
//! After each misbehaviour, [`assert_healthy`] checks that the pool still runs N tasks at once
//! on N distinct threads, that `stats()` adds up, that `wait_idle` returns, and the test then
//! drops the pool. Every test runs under [`within`], so a hang is a failure.

mod common;

use atomsync::ThreadPool;
use atomsync::pool::PoolStats;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize};
use std::sync::{Arc, mpsc};
use std::task::{Context, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use common::{
    block_every_worker, counting_pool, current_thread_id, distinct_workers_at_once,
    wait_until_asleep, within,
};

/// A value whose `Drop` panics.
struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("Bomb dropped");
    }
}

/// The pool still has all its workers (N tasks that must all run at once, on N distinct
/// threads), `wait_idle` returns, and the stats add up to what the test submitted before
/// (`completed`, `panicked`) plus the N tasks of this check.
fn assert_healthy(pool: &ThreadPool, completed: usize, panicked: usize) {
    let workers = pool.num_threads();
    assert_eq!(distinct_workers_at_once(pool), workers, "fewer distinct workers than the pool has");
    pool.wait_idle();
    assert_eq!(
        pool.stats(),
        PoolStats { queued: 0, running: 0, completed: completed + workers, panicked }
    );
}

/// Blocks until `flag` is set (by another thread of the test), under the test's watchdog.
fn wait_for(flag: &AtomicBool) {
    while !flag.load(SeqCst) {
        thread::yield_now();
    }
}

#[test]
fn result_drop_panics_with_the_handle_gone() {
    within(|| {
        let (pool, reported) = counting_pool(2);
        let (release, gate) = mpsc::channel::<()>();
        let handle = pool.spawn(move || {
            gate.recv().unwrap();
            Bomb
        });
        drop(handle); // the worker drops the result
        release.send(()).unwrap();
        pool.wait_idle();
        assert_eq!(reported.load(SeqCst), 1, "the drop's panic goes to the handler");
        assert_healthy(&pool, 0, 1);
        drop(pool);
    });
}

#[test]
fn result_drop_panics_with_a_live_handle() {
    within(|| {
        let (pool, reported) = counting_pool(2);
        let handle = pool.spawn(|| Bomb);
        pool.wait_idle();
        assert!(handle.is_finished());
        // The result is dropped here, by the handle's owner: the panic is the owner's.
        let dropped = panic::catch_unwind(AssertUnwindSafe(move || drop(handle)));
        assert!(dropped.is_err());
        let joined = pool.spawn(|| Bomb).join().unwrap();
        assert!(panic::catch_unwind(AssertUnwindSafe(move || drop(joined))).is_err());
        assert_eq!(reported.load(SeqCst), 0);
        assert_healthy(&pool, 2, 0);
        drop(pool);
    });
}

/// The use-after-free: the result drop of a task spawned (and detached) inside `a` of
/// a worker's join runs in that join's take-back loop. Before the fix it unwound out of the
/// join with `b`'s job still in the deque, and `b` later ran on a freed stack (SIGSEGV).
#[test]
fn result_drop_panics_inside_a_workers_join() {
    within(|| {
        let (pool, reported) = counting_pool(1);
        let pool = Arc::new(pool);
        let b_runs = Arc::new(AtomicUsize::new(0));
        let canary = Arc::new(AtomicU8::new(0));
        let (inner, runs, seen) = (Arc::clone(&pool), Arc::clone(&b_runs), Arc::clone(&canary));
        let outer = pool.spawn(move || {
            let guard = 0xabu8;
            inner.join(
                || drop(inner.spawn(|| Bomb)),
                || {
                    seen.store(std::hint::black_box(guard), SeqCst);
                    runs.fetch_add(1, SeqCst);
                },
            );
        });
        outer.join().unwrap();
        pool.wait_idle();
        assert_eq!(b_runs.load(SeqCst), 1, "b ran exactly once");
        assert_eq!(canary.load(SeqCst), 0xab);
        assert_eq!(reported.load(SeqCst), 1);
        // The outer task completed; the spawned one counts as panicked (its result's drop).
        assert_healthy(&pool, 1, 1);
        drop(Arc::try_unwrap(pool).expect("the last reference"));
    });
}

#[test]
fn result_drop_panics_inside_scopes() {
    within(|| {
        let (pool, reported) = counting_pool(2);
        let pool = Arc::new(pool);
        // A scope opened outside the pool, and one opened on a worker.
        let mut ran = [false; 2];
        // The bomb waits until its handle is gone, so that a worker drops it.
        let detached_bomb = |pool: &ThreadPool| {
            let (release, gate) = mpsc::channel::<()>();
            drop(pool.spawn(move || {
                gate.recv().unwrap();
                Bomb
            }));
            release.send(()).unwrap();
        };
        pool.scope(|s| {
            let pool = &pool;
            let ran = &mut ran[0];
            s.spawn(move || {
                detached_bomb(pool);
                *ran = true;
            });
        });
        let inner = Arc::clone(&pool);
        let ran_inside = pool
            .spawn(move || {
                let mut ran = false;
                inner.scope(|s| {
                    s.spawn(|| {
                        detached_bomb(&inner);
                        ran = true;
                    })
                });
                ran
            })
            .join()
            .unwrap();
        ran[1] = ran_inside;
        assert_eq!(ran, [true, true]);
        // And in both halves of a join from outside the pool.
        let joined = pool.join(
            || {
                detached_bomb(&pool);
                1
            },
            || {
                detached_bomb(&pool);
                2
            },
        );
        assert_eq!(joined, (1, 2));
        pool.wait_idle();
        assert_eq!(reported.load(SeqCst), 4);
        // Completed: 2 scoped tasks, the task that opened the inner scope, the join's `b`;
        // panicked: the 4 bombs.
        assert_healthy(&pool, 4, 4);
        drop(Arc::try_unwrap(pool).expect("the last reference"));
    });
}

/// A `Waker` whose `wake` panics.
struct PanickingWake;

impl Wake for PanickingWake {
    fn wake(self: Arc<Self>) {
        panic!("wake fails");
    }
}

/// A `Waker` whose drop panics (inside `wake`, when the pool holds the last reference).
struct PanickingDrop;

impl Wake for PanickingDrop {
    fn wake(self: Arc<Self>) {}
}

impl Drop for PanickingDrop {
    fn drop(&mut self) {
        panic!("waker drop fails");
    }
}

#[test]
fn panicking_waker_wake_and_drop() {
    within(|| {
        let (pool, reported) = counting_pool(2);
        for waker in [Waker::from(Arc::new(PanickingWake)), Waker::from(Arc::new(PanickingDrop))] {
            let (release, gate) = mpsc::channel::<()>();
            let mut handle = pool.spawn(move || {
                gate.recv().unwrap();
                7
            });
            let mut context = Context::from_waker(&waker);
            assert!(Future::poll(std::pin::Pin::new(&mut handle), &mut context).is_pending());
            // Drop our reference: the pool's clone is the last one.
            drop(waker);
            release.send(()).unwrap();
            assert_eq!(handle.join().unwrap(), 7, "the value arrives although wake failed");
        }
        pool.wait_idle();
        assert_eq!(reported.load(SeqCst), 2, "each waker panic goes to the handler");
        assert_healthy(&pool, 0, 2);
        drop(pool);
    });
}

#[test]
fn payloads_whose_drop_panics() {
    within(|| {
        let (pool, reported) = counting_pool(2);
        // execute: the payload goes to the handler, which drops it (and panics).
        pool.execute(|| panic::panic_any(Bomb));
        // spawn, handle gone: the worker drops the payload.
        let (release, gate) = mpsc::channel::<()>();
        drop(pool.spawn(move || {
            gate.recv().unwrap();
            panic::panic_any(Bomb)
        }));
        release.send(()).unwrap();
        pool.wait_idle();
        assert_eq!(reported.load(SeqCst), 2);
        // Two scoped tasks with such payloads (outside the pool and on a worker): the scope
        // keeps one and drops the other; it returns and re-raises the one it kept.
        for on_worker in [false, true] {
            let pool_ref = &pool;
            let run = move || {
                panic::catch_unwind(AssertUnwindSafe(|| {
                    pool_ref.scope(|s| {
                        s.spawn(|| panic::panic_any(Bomb));
                        s.spawn(|| panic::panic_any(Bomb));
                    })
                }))
            };
            let result = if on_worker { pool.install(run) } else { run() };
            let payload = result.unwrap_err();
            assert!(payload.is::<Bomb>());
            std::mem::forget(payload);
        }
        pool.wait_idle();
        // The dropped second payload's panic went to the handler each time.
        assert_eq!(reported.load(SeqCst), 4);
        // Panicked: execute, spawn, 2 x 2 scoped; completed: the install.
        assert_healthy(&pool, 1, 6);
        drop(pool);
    });
}

#[test]
fn panic_handler_that_panics() {
    within(|| {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&calls);
        let pool = ThreadPool::builder()
            .num_threads(2)
            .panic_handler(move |payload| {
                seen.fetch_add(1, SeqCst);
                std::mem::forget(payload);
                // A handler panic whose own payload panics when dropped.
                panic::panic_any(Bomb);
            })
            .build()
            .unwrap();
        for _ in 0..10 {
            pool.execute(|| panic!("task fails"));
        }
        pool.wait_idle();
        assert_eq!(calls.load(SeqCst), 10);
        assert_healthy(&pool, 0, 10);
        drop(pool);
    });
}

/// `a` panics; `b` still runs (on the worker's own deque: not stolen on a 1-worker pool, and
/// from outside the pool) and the panic is re-raised after; both panic: `a`'s payload wins.
#[test]
fn join_runs_both_closures_and_reraises_a_first() {
    within(|| {
        let (pool, reported) = counting_pool(1);
        for on_worker in [false, true] {
            let b_ran = AtomicBool::new(false);
            let run = || {
                panic::catch_unwind(AssertUnwindSafe(|| {
                    pool.join(|| panic!("a fails"), || b_ran.store(true, SeqCst))
                }))
            };
            let result = if on_worker { pool.install(run) } else { run() };
            assert_eq!(result.unwrap_err().downcast_ref::<&str>(), Some(&"a fails"));
            assert!(b_ran.load(SeqCst), "b did not run (on_worker: {on_worker})");

            let run = || {
                panic::catch_unwind(AssertUnwindSafe(|| {
                    pool.join(|| -> () { panic!("a fails") }, || -> () { panic!("b fails") })
                }))
            };
            let result = if on_worker { pool.install(run) } else { run() };
            assert_eq!(result.unwrap_err().downcast_ref::<&str>(), Some(&"a fails"));

            // b's panic alone is re-raised after a finished.
            let a_done = AtomicBool::new(false);
            let run = || {
                panic::catch_unwind(AssertUnwindSafe(|| {
                    pool.join(|| a_done.store(true, SeqCst), || -> () { panic!("b fails") })
                }))
            };
            let result = if on_worker { pool.install(run) } else { run() };
            assert_eq!(result.unwrap_err().downcast_ref::<&str>(), Some(&"b fails"));
            assert!(a_done.load(SeqCst));
        }
        pool.wait_idle();
        assert_eq!(reported.load(SeqCst), 0);
        // From outside, each join's b is a (scoped) task: 3 of them, 2 panicked; on the
        // worker the 3 installs completed (their joins are part of them).
        assert_healthy(&pool, 1 + 3, 2);
        drop(pool);
    });
}

#[test]
fn join_from_outside_with_every_worker_blocked() {
    within(|| {
        let pool = ThreadPool::new(2);
        let release = block_every_worker(&pool);
        assert_eq!(pool.join(|| 1 + 1, || 40), (2, 40));
        let nested = pool.join(|| pool.join(|| 1, || 2), || pool.join(|| 3, || 4));
        assert_eq!(nested, ((1, 2), (3, 4)));
        for _ in 0..2 {
            release.send(()).unwrap();
        }
        pool.wait_idle();
        // 2 blockers; one b per outside join (4).
        assert_healthy(&pool, 2 + 4, 0);
        drop(pool);
    });
}

#[test]
fn scope_from_outside_with_every_worker_blocked() {
    within(|| {
        let pool = ThreadPool::new(2);
        let release = block_every_worker(&pool);
        // An unrelated task of another submitter, queued before the scope: the scope's caller
        // must not run it (only a worker may, once one is free).
        let (unrelated_tx, unrelated_rx) = mpsc::channel();
        pool.execute(move || unrelated_tx.send(thread::current().id()).unwrap());
        let mut data = vec![0u32; 100];
        pool.scope(|s| {
            for (i, x) in data.iter_mut().enumerate() {
                s.spawn(move || *x = i as u32);
            }
            // A task that spawns more tasks (from the caller's thread, which runs it).
            s.spawn(move || s.spawn(|| {}));
        });
        assert!(data.iter().enumerate().all(|(i, &x)| x == i as u32));
        assert!(unrelated_rx.try_recv().is_err(), "the scope's caller ran an unrelated task");
        for _ in 0..2 {
            release.send(()).unwrap();
        }
        assert_ne!(unrelated_rx.recv().unwrap(), thread::current().id());
        pool.wait_idle();
        assert_healthy(&pool, 2 + 102 + 1, 0);
        drop(pool);
    });
}

/// A worker whose `join` half was stolen, waiting for the thief, still runs new work: a task
/// spawned from outside starts within 100 ms.
#[test]
fn worker_waiting_on_a_stolen_half_runs_new_work() {
    within(|| {
        let pool = Arc::new(ThreadPool::new(2));
        let (release_b, gate_b) = mpsc::channel::<()>();
        let b_started = Arc::new(AtomicBool::new(false));
        let (id_tx, id_rx) = mpsc::channel();
        let inner = Arc::clone(&pool);
        let started = Arc::clone(&b_started);
        let joiner = pool.spawn(move || {
            let seen = Arc::clone(&started);
            inner.join(
                move || {
                    id_tx.send(current_thread_id()).unwrap();
                    // Returns only once the other worker stole and started `b`.
                    wait_for(&seen);
                },
                move || {
                    started.store(true, SeqCst);
                    gate_b.recv().unwrap();
                },
            )
        });
        let waiting_worker = id_rx.recv().unwrap();
        wait_for(&b_started);
        // The joining worker runs out of work and goes to sleep waiting for `b`.
        wait_until_asleep(waiting_worker);
        let start = Instant::now();
        let result = pool.spawn(|| 5).join_timeout(Duration::from_millis(100));
        let waited = start.elapsed();
        assert!(
            matches!(result, Ok(Ok(5))),
            "the waiting worker did not run the new task within 100 ms"
        );
        assert!(waited < Duration::from_millis(100));
        release_b.send(()).unwrap();
        joiner.join().unwrap();
        assert_healthy(&pool, 2, 0);
        drop(Arc::try_unwrap(pool).expect("the last reference"));
    });
}

/// A worker blocked in `JoinHandle::join` inside a task still runs new work; and joining a
/// task of the same pool from a task works on a 1-worker pool.
#[test]
fn worker_in_a_handle_join_runs_new_work() {
    within(|| {
        let single = Arc::new(ThreadPool::new(1));
        let inner = Arc::clone(&single);
        let outer = single.spawn(move || inner.spawn(|| 20).join().unwrap() + 1);
        assert_eq!(outer.join().unwrap(), 21);

        let pool = Arc::new(ThreadPool::new(2));
        let (release, gate) = mpsc::channel::<()>();
        let stuck_started = Arc::new(AtomicBool::new(false));
        let started = Arc::clone(&stuck_started);
        let stuck = pool.spawn(move || {
            started.store(true, SeqCst);
            gate.recv().unwrap();
            3
        });
        wait_for(&stuck_started);
        let (id_tx, id_rx) = mpsc::channel();
        let joiner = pool.spawn(move || {
            id_tx.send(current_thread_id()).unwrap();
            stuck.join().unwrap()
        });
        wait_until_asleep(id_rx.recv().unwrap());
        let result = pool.spawn(|| 5).join_timeout(Duration::from_millis(100));
        assert!(matches!(result, Ok(Ok(5))), "no new work ran within 100 ms");
        release.send(()).unwrap();
        assert_eq!(joiner.join().unwrap(), 3);
        assert_healthy(&pool, 3, 0);
    });
}

#[test]
fn shutdown_timeout_bounds_the_drop() {
    within(|| {
        let pool = ThreadPool::new(2);
        let (release, gate) = mpsc::channel::<()>();
        let (done_tx, done_rx) = mpsc::channel::<()>();
        pool.execute(move || {
            gate.recv().unwrap();
            done_tx.send(()).unwrap();
        });
        let timeout = Duration::from_millis(250);
        let start = Instant::now();
        assert!(!pool.shutdown_timeout(timeout));
        assert!(start.elapsed() >= timeout, "returned after {:?}", start.elapsed());
        let start = Instant::now();
        drop(pool);
        assert!(start.elapsed() < Duration::from_secs(1), "drop took {:?}", start.elapsed());
        // The detached worker still finishes its task.
        release.send(()).unwrap();
        done_rx.recv().unwrap();
    });
}

/// `a` of a worker's join spawns onto the worker's own deque (above `b`) and joins: the
/// take-back loop must tell `b` from the spawned task (pointer identity), run the spawned
/// task, and run `b` exactly once. A loop that took any job for `b` would lose the spawned
/// task and leave `b`'s job behind.
#[test]
fn join_a_spawns_onto_the_local_deque_then_joins() {
    within(|| {
        let pool = Arc::new(ThreadPool::new(1));
        let b_runs = Arc::new(AtomicUsize::new(0));
        let inner = Arc::clone(&pool);
        let runs = Arc::clone(&b_runs);
        let (spawned, nested) = pool
            .spawn(move || {
                let (handle, nested) = inner
                    .join(
                        || {
                            let handle = inner.spawn(|| 7);
                            let nested = inner.join(|| 1, || 2);
                            (handle, nested)
                        },
                        || {
                            runs.fetch_add(1, SeqCst);
                        },
                    )
                    .0;
                (handle, nested)
            })
            .join()
            .unwrap();
        assert_eq!(nested, (1, 2));
        assert!(matches!(spawned.join_timeout(Duration::from_secs(10)), Ok(Ok(7))));
        assert_eq!(b_runs.load(SeqCst), 1);
        assert_healthy(&pool, 2, 0);
    });
}
