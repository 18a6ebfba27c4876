//! ThreadPool benchmarks: atomsync vs rayon vs the `threadpool` crate (and `std::thread::scope`
//! for the scope case). Every pool has `available_parallelism()` workers and is built once,
//! outside the timed loop.
//!
//! ```text
//! cargo bench --bench pool                  # everything, about 1.5 min on 2 cores
//! cargo bench --bench pool -- fib           # a criterion filter (regex on the id)
//! ```
//!
//! - `pool_spawn_join_100k/<impl>`: submit 100 000 tiny tasks from the main thread and wait for
//!   all of them. atomsync: `spawn` + `join` of every handle (each task carries a result), and
//!   `execute` + `wait_idle`; rayon: `spawn` with a counting latch (the last task signals);
//!   threadpool: `execute` + `join`.
//! - `pool_scope_10k/<impl>`: a scope of 10 000 tiny tasks that each write their own element
//!   of a borrowed `Vec`. `std_thread_scope` spawns one OS thread per task (what the scope
//!   replaces).
//! - `pool_fib30/<impl>`: recursive `join` computing fib(30), sequential below n = 18 (about
//!   1 200 joins), entered through `install` (on a worker) and through `join` from outside the
//!   pool (atomsync then runs the left spine on the caller); `sequential` is the plain
//!   recursion on one thread.
//! - `pool_join_outside_1000/<impl>`: 1 000 `join`s called from the main thread, each of two
//!   halves of ~2 000 tiny operations.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::AcqRel;
use std::sync::{Arc, mpsc};
use std::time::Duration;

const TASKS: usize = 100_000;
const SCOPE_TASKS: usize = 10_000;
const FIB_N: u32 = 30;
const FIB_CUTOFF: u32 = 18;

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The tiny task: a few arithmetic operations the optimiser cannot remove.
#[inline]
fn tiny(i: usize) -> usize {
    black_box(i).wrapping_mul(31).wrapping_add(7)
}

fn fib_sequential(n: u32) -> u64 {
    if n < 2 {
        n.into()
    } else {
        fib_sequential(n - 1) + fib_sequential(n - 2)
    }
}

fn fib_atomsync(pool: &atomsync::ThreadPool, n: u32) -> u64 {
    if n < FIB_CUTOFF {
        return fib_sequential(n);
    }
    let (a, b) = pool.join(|| fib_atomsync(pool, n - 1), || fib_atomsync(pool, n - 2));
    a + b
}

fn fib_rayon(n: u32) -> u64 {
    if n < FIB_CUTOFF {
        return fib_sequential(n);
    }
    let (a, b) = rayon::join(|| fib_rayon(n - 1), || fib_rayon(n - 2));
    a + b
}

fn spawn_join(c: &mut Criterion) {
    let atomsync_pool = atomsync::ThreadPool::new(threads());
    let rayon_pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads())
        .build()
        .unwrap();
    let threadpool_pool = threadpool::ThreadPool::new(threads());
    let mut group = c.benchmark_group("pool_spawn_join_100k");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    group.bench_function("atomsync_spawn_handles", |b| {
        b.iter(|| {
            let handles: Vec<_> = (0..TASKS)
                .map(|i| atomsync_pool.spawn(move || tiny(i)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .fold(0usize, usize::wrapping_add)
        })
    });
    group.bench_function("atomsync_execute_wait_idle", |b| {
        b.iter(|| {
            for i in 0..TASKS {
                atomsync_pool.execute(move || {
                    tiny(i);
                });
            }
            atomsync_pool.wait_idle();
        })
    });
    group.bench_function("rayon_spawn_latch", |b| {
        b.iter(|| {
            let remaining = Arc::new(AtomicUsize::new(TASKS));
            let (done_tx, done_rx) = mpsc::channel::<()>();
            for i in 0..TASKS {
                let (remaining, done_tx) = (Arc::clone(&remaining), done_tx.clone());
                rayon_pool.spawn(move || {
                    tiny(i);
                    if remaining.fetch_sub(1, AcqRel) == 1 {
                        done_tx.send(()).unwrap();
                    }
                });
            }
            done_rx.recv().unwrap();
        })
    });
    group.bench_function("threadpool_execute_join", |b| {
        b.iter(|| {
            for i in 0..TASKS {
                threadpool_pool.execute(move || {
                    tiny(i);
                });
            }
            threadpool_pool.join();
        })
    });
    group.finish();
}

fn scope(c: &mut Criterion) {
    let atomsync_pool = atomsync::ThreadPool::new(threads());
    let rayon_pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads())
        .build()
        .unwrap();
    let mut data = vec![0usize; SCOPE_TASKS];
    let mut group = c.benchmark_group("pool_scope_10k");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    group.bench_function("atomsync", |b| {
        b.iter(|| {
            atomsync_pool.scope(|s| {
                for (i, x) in data.iter_mut().enumerate() {
                    s.spawn(move || *x = tiny(i));
                }
            })
        })
    });
    group.bench_function("atomsync_install_scope", |b| {
        b.iter(|| {
            let pool = &atomsync_pool;
            let data = &mut data;
            pool.install(move || {
                pool.scope(|s| {
                    for (i, x) in data.iter_mut().enumerate() {
                        s.spawn(move || *x = tiny(i));
                    }
                })
            })
        })
    });
    group.bench_function("rayon", |b| {
        b.iter(|| {
            rayon_pool.scope(|s| {
                for (i, x) in data.iter_mut().enumerate() {
                    s.spawn(move |_| *x = tiny(i));
                }
            })
        })
    });
    group.bench_function("std_thread_scope", |b| {
        b.iter(|| {
            std::thread::scope(|s| {
                for (i, x) in data.iter_mut().enumerate() {
                    s.spawn(move || *x = tiny(i));
                }
            })
        })
    });
    group.finish();
    black_box(&data);
}

fn fib(c: &mut Criterion) {
    let atomsync_pool = atomsync::ThreadPool::new(threads());
    let rayon_pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads())
        .build()
        .unwrap();
    let mut group = c.benchmark_group("pool_fib30");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    group.bench_function("atomsync_install_join", |b| {
        // From inside a task, as the recursion runs in real use.
        b.iter(|| {
            let pool = &atomsync_pool;
            pool.install(|| fib_atomsync(pool, black_box(FIB_N)))
        })
    });
    group.bench_function("atomsync_join_from_outside", |b| {
        b.iter(|| {
            let pool = &atomsync_pool;
            pool.join(|| fib_atomsync(pool, black_box(FIB_N)), || ()).0
        })
    });
    group.bench_function("rayon_install_join", |b| {
        b.iter(|| rayon_pool.install(|| fib_rayon(black_box(FIB_N))))
    });
    group.bench_function("rayon_join_from_outside", |b| {
        b.iter(|| rayon_pool.join(|| fib_rayon(black_box(FIB_N)), || ()).0)
    });
    group.bench_function("sequential", |b| {
        b.iter(|| fib_sequential(black_box(FIB_N)))
    });
    group.finish();
}

/// `n` tiny operations: one half of a join from outside.
fn work(n: usize) -> usize {
    (0..n).fold(0, |sum, i| sum.wrapping_add(tiny(i)))
}

const OUTSIDE_JOINS: usize = 1_000;

fn join_outside(c: &mut Criterion) {
    let atomsync_pool = atomsync::ThreadPool::new(threads());
    let rayon_pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads())
        .build()
        .unwrap();
    let mut group = c.benchmark_group("pool_join_outside_1000");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    group.bench_function("atomsync", |b| {
        b.iter(|| {
            for _ in 0..OUTSIDE_JOINS {
                black_box(atomsync_pool.join(|| work(2_000), || work(2_000)));
            }
        })
    });
    group.bench_function("rayon", |b| {
        b.iter(|| {
            for _ in 0..OUTSIDE_JOINS {
                black_box(rayon_pool.join(|| work(2_000), || work(2_000)));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, spawn_join, scope, fib, join_outside);
criterion_main!(benches);
