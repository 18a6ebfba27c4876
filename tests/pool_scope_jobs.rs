//! A scope's tasks on every path their memory can take (`src/pool/slab.rs`): spawned by the
//! scope's owner (a recycled block), by another thread (boxed), too large or too aligned for a
//! block (boxed), panicking, from outside the pool and installed, many scopes at once. Each
//! test counts what must add up: every task ran once, every capture was dropped once, the
//! pool's stats, and the pool works afterwards with every worker alive.

mod common;

use atomsync::ThreadPool;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::SeqCst;

use common::{block_every_worker, distinct_workers_at_once, within};

/// Counts its drops.
struct Counted<'a>(&'a AtomicUsize);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// Over-aligned: never fits a block.
#[repr(align(64))]
struct Aligned(usize);

/// One scope with every kind of task; returns how many tasks it spawned. Task `i` writes
/// `i + 1` into `out[i]` (the owner's tasks) and every task drops one `Counted`. Every 7th of
/// the owner's tasks panics after writing.
fn mixed_scope(pool: &ThreadPool, out: &mut [usize], drops: &AtomicUsize, nested: &AtomicUsize) {
    pool.scope(|s| {
        for (i, slot) in out.iter_mut().enumerate() {
            let counted = Counted(drops);
            match i % 3 {
                // Small: a recycled block.
                0 => s.spawn(move || {
                    let _counted = counted;
                    *slot = i + 1;
                    assert!(i % 7 != 0, "task {i} panics");
                }),
                // Large: boxed.
                1 => {
                    let padding = [i; 16];
                    s.spawn(move || {
                        let _counted = counted;
                        *slot = padding[15] + 1;
                        assert!(i % 7 != 0, "task {i} panics");
                    })
                }
                // Over-aligned: boxed; it spawns two more from whichever thread runs it.
                _ => {
                    let aligned = Aligned(i);
                    s.spawn(move || {
                        let aligned = aligned;
                        let _counted = counted;
                        *slot = aligned.0 + 1;
                        for _ in 0..2 {
                            let counted = Counted(drops);
                            s.spawn(move || {
                                let _counted = counted;
                                nested.fetch_add(1, SeqCst);
                            });
                        }
                        assert!(i % 7 != 0, "task {i} panics");
                    })
                }
            }
        }
    });
}

#[test]
fn every_task_runs_once_and_every_capture_drops_once_on_every_path() {
    within(|| {
        let pool = ThreadPool::new(2);
        for installed in [false, true] {
            for len in [0, 1, 2, 3, 5, 63, 64, 65, 100, 129, 3_000] {
                let mut out = vec![0; len];
                let (drops, nested) = (AtomicUsize::new(0), AtomicUsize::new(0));
                let before = pool.stats();
                let mut run = || mixed_scope(&pool, &mut out, &drops, &nested);
                let result = panic::catch_unwind(AssertUnwindSafe(|| {
                    if installed { pool.install(&mut run) } else { run() }
                }));
                let spawned_nested = 2 * (len / 3);
                let panicking = (0..len).filter(|i| i % 7 == 0).count();
                assert_eq!(result.is_err(), panicking > 0, "len {len}: the first panic re-raised");
                assert!(out.iter().enumerate().all(|(i, &x)| x == i + 1), "len {len}: {out:?}");
                assert_eq!(nested.load(SeqCst), spawned_nested, "len {len}");
                assert_eq!(drops.load(SeqCst), len + spawned_nested, "len {len}: drops");
                // A scoped task is counted before its scope's `pending` decrement, so the
                // counts are exact as soon as `scope` returned (the `install` task, counted as
                // a task, after `wait_idle`, as documented).
                let tasks = len + spawned_nested + usize::from(installed);
                if installed {
                    pool.wait_idle();
                }
                // Installed, the `install` task re-raises the scope's panic: it panicked too.
                let panicked = panicking + usize::from(installed && panicking > 0);
                let after = pool.stats();
                assert_eq!(after.panicked - before.panicked, panicked, "len {len}");
                assert_eq!(after.completed - before.completed, tasks - panicked, "len {len}");
            }
        }
        assert_eq!(distinct_workers_at_once(&pool), 2, "every worker alive");
    });
}

#[test]
fn many_scopes_at_once_from_threads_and_tasks() {
    within(|| {
        let pool = ThreadPool::new(2);
        let total = AtomicUsize::new(0);
        std::thread::scope(|threads| {
            for t in 0..4usize {
                let (pool, total) = (&pool, &total);
                threads.spawn(move || {
                    for round in 0..40 {
                        let len = (t * 131 + round * 37) % 700;
                        let mut out = vec![0; len];
                        // Every other scope is opened inside a task of another scope.
                        let body = |out: &mut Vec<usize>| {
                            pool.scope(|s| {
                                for (i, slot) in out.iter_mut().enumerate() {
                                    s.spawn(move || *slot = i * 3 + t);
                                }
                            })
                        };
                        if round % 2 == 0 {
                            body(&mut out);
                        } else {
                            pool.scope(|outer| outer.spawn(|| body(&mut out)));
                        }
                        assert!(out.iter().enumerate().all(|(i, &x)| x == i * 3 + t));
                        total.fetch_add(len, SeqCst);
                    }
                });
            }
        });
        let expected: usize =
            (0..4).flat_map(|t| (0..40).map(move |r| (t * 131 + r * 37) % 700)).sum();
        assert_eq!(total.load(SeqCst), expected);
        assert_eq!(distinct_workers_at_once(&pool), 2, "every worker alive");
    });
}

#[test]
fn with_every_worker_blocked_the_owner_runs_every_task_and_what_they_spawn() {
    within(|| {
        let pool = ThreadPool::new(2);
        let release = block_every_worker(&pool);
        let owner = std::thread::current().id();
        let (ran, nested) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let mut out = vec![0; 200];
        pool.scope(|s| {
            for (i, slot) in out.iter_mut().enumerate() {
                let (ran, nested) = (&ran, &nested);
                s.spawn(move || {
                    assert_eq!(std::thread::current().id(), owner, "no worker is free");
                    *slot = i + 1;
                    ran.fetch_add(1, SeqCst);
                    // Spawned while the owner waits (its closure has returned).
                    s.spawn(move || {
                        nested.fetch_add(1, SeqCst);
                    });
                });
            }
            assert_eq!(format!("{s:?}"), "Scope { pending: 201 }", "200 tasks and the closure");
        });
        assert_eq!((ran.load(SeqCst), nested.load(SeqCst)), (200, 200));
        assert!(out.iter().enumerate().all(|(i, &x)| x == i + 1));
        drop(release);
        assert_eq!(distinct_workers_at_once(&pool), 2, "every worker alive");
    });
}

#[test]
fn stats_count_every_scoped_task_by_the_time_scope_returns() {
    within(|| {
        let pool = ThreadPool::new(2);
        let finished = |pool: &ThreadPool| {
            let stats = pool.stats();
            stats.completed + stats.panicked
        };
        // Tasks that a worker runs while the owner is still in its closure, which keeps the
        // owner from running them itself: the last one may finish just as the closure ends.
        for round in 0..2_000 {
            let before = finished(&pool);
            let tasks = 1 + round % 4;
            pool.scope(|s| {
                for _ in 0..tasks {
                    s.spawn(|| std::hint::black_box(()));
                }
                let spin = std::time::Instant::now();
                while spin.elapsed() < std::time::Duration::from_micros(round as u64 % 20) {
                    std::hint::spin_loop();
                }
            });
            assert_eq!(finished(&pool) - before, tasks, "round {round}");
        }
    });
}

#[test]
fn a_closure_that_panics_after_spawning_still_waits_for_every_task() {
    within(|| {
        let pool = ThreadPool::new(2);
        for installed in [false, true] {
            for tasks in [0, 1, 63, 64, 65, 200] {
                let ran = AtomicUsize::new(0);
                let run = || {
                    pool.scope(|s| {
                        for _ in 0..tasks {
                            s.spawn(|| {
                                ran.fetch_add(1, SeqCst);
                            });
                        }
                        panic!("the closure panics after {tasks} spawns");
                    })
                };
                let result = panic::catch_unwind(AssertUnwindSafe(|| {
                    if installed { pool.install(run) } else { run() }
                }));
                let payload = result.expect_err("the closure's panic is re-raised");
                let expected = format!("the closure panics after {tasks} spawns");
                assert_eq!(payload.downcast_ref::<String>(), Some(&expected));
                assert_eq!(ran.load(SeqCst), tasks, "every task ran before scope returned");
            }
        }
        pool.wait_idle();
        assert_eq!(distinct_workers_at_once(&pool), 2, "every worker alive");
    });
}

#[test]
fn every_thread_counts_its_scoped_tasks_in_its_own_slot() {
    // The workers count into their own slots with a plain load and store, and every other
    // thread into the shared slot with an RMW: a task counted in another thread's slot is a
    // lost update sooner or later. 200 000 tasks run by both workers and the owner at once.
    within(|| {
        let pool = ThreadPool::new(2);
        for installed in [false, true] {
            let before = pool.stats();
            let run = || {
                pool.scope(|s| {
                    for _ in 0..200_000 {
                        s.spawn(|| std::hint::black_box(()));
                    }
                })
            };
            if installed {
                pool.install(run)
            } else {
                run()
            }
            pool.wait_idle();
            let after = pool.stats();
            let tasks = 200_000 + usize::from(installed);
            assert_eq!(after.completed - before.completed, tasks, "installed {installed}");
            assert_eq!((after.running, after.queued, after.panicked), (0, 0, 0));
        }
    });
}
