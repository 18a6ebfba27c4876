//! The thread-pool workloads: task throughput, scope, fork-join, joins from outside. One list
//! ([`pool_workloads`]) names each case for the quick comparison and for criterion, so that
//! both measure the same code.

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering::AcqRel};
use std::sync::{Arc, mpsc};

/// Tasks in the task-throughput workload.
pub const TASKS: usize = 100_000;
/// Tasks in the large scope workload (issue 13's size), and the length of the `Vec` the scope
/// cases get to write.
pub const SCOPE_TASKS: usize = 100_000;
/// Tasks in the small scope workload (they write the first elements of the `Vec`).
const SMALL_SCOPE_TASKS: usize = 10_000;
/// Joins per repetition of the join-from-outside workload.
pub const OUTSIDE_JOINS: usize = 1_000;
/// Tiny operations in each half of a join from outside.
const JOIN_HALF: usize = 2_000;
/// The fork-join workloads compute fib(30) and fib(32) (issue 13's size), sequentially below
/// this n.
const FIB_CUTOFF: u32 = 18;

/// The pools under test, each with the same number of workers.
pub struct Pools {
    pub atomsync: atomsync::ThreadPool,
    pub rayon: rayon::ThreadPool,
    pub threadpool: threadpool::ThreadPool,
}

impl Pools {
    /// Pools of `threads` workers each.
    pub fn new(threads: usize) -> Pools {
        Pools {
            atomsync: atomsync::ThreadPool::new(threads),
            rayon: rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap(),
            threadpool: threadpool::ThreadPool::new(threads),
        }
    }
}

/// One case of a workload: how it is named in each target, and what it runs. `data` is a
/// `Vec` of [`SCOPE_TASKS`] elements for the scope cases to write.
pub struct PoolCase {
    /// The row name in `compare --primitive pool`, or `None` if only criterion runs it.
    pub compare: Option<&'static str>,
    /// The criterion id in `benches/pool.rs`, or `None` if only the comparison runs it.
    pub bench: Option<&'static str>,
    /// The timed work.
    pub run: fn(&Pools, &mut [usize]),
}

/// A group of cases that do the same work.
pub struct PoolWorkload {
    /// The heading in `compare --primitive pool`.
    pub title: &'static str,
    /// The criterion group.
    pub group: &'static str,
    /// The criterion sample size and measurement time in seconds.
    pub bench_samples: (usize, u64),
    /// The implementations; the first one is the comparison's reference.
    pub cases: Vec<PoolCase>,
}

fn case(compare: &'static str, bench: &'static str, run: fn(&Pools, &mut [usize])) -> PoolCase {
    PoolCase { compare: Some(compare), bench: Some(bench), run }
}

fn workload(
    title: &'static str,
    group: &'static str,
    bench_samples: (usize, u64),
    cases: Vec<PoolCase>,
) -> PoolWorkload {
    PoolWorkload { title, group, bench_samples, cases }
}

/// Every pool workload, in the order both targets report them.
pub fn pool_workloads() -> Vec<PoolWorkload> {
    vec![
        workload(
            "100k tiny tasks, submit + wait for all",
            "pool_spawn_join_100k",
            (10, 3),
            task_cases(),
        ),
        workload(
            "scope of 10k tiny tasks writing a borrowed Vec",
            "pool_scope_10k",
            (10, 2),
            scope_cases::<SMALL_SCOPE_TASKS>(),
        ),
        workload(
            "scope of 100k tiny tasks writing a borrowed Vec",
            "pool_scope_100k",
            (10, 3),
            scope_cases::<SCOPE_TASKS>(),
        ),
        workload(
            "fib(30) by recursive join, sequential below 18",
            "pool_fib30",
            (20, 2),
            fib_cases::<30>(),
        ),
        workload(
            "fib(32) by recursive join, sequential below 18",
            "pool_fib32",
            (10, 3),
            fib_cases::<32>(),
        ),
        workload(
            "1000 joins from outside the pool, two halves of ~2k tiny ops",
            "pool_join_outside_1000",
            (10, 2),
            join_cases(),
        ),
    ]
}

fn task_cases() -> Vec<PoolCase> {
    vec![
        case("atomsync spawn+join", "atomsync_spawn_handles", |p, _| {
            atomsync_spawn_join(&p.atomsync)
        }),
        case("atomsync execute+wait_idle", "atomsync_execute_wait_idle", |p, _| {
            atomsync_execute_wait_idle(&p.atomsync)
        }),
        case("rayon spawn+latch", "rayon_spawn_latch", |p, _| rayon_spawn_latch(&p.rayon)),
        case("threadpool execute+join", "threadpool_execute_join", |p, _| {
            threadpool_execute_join(&p.threadpool)
        }),
    ]
}

/// A scope of `N` tasks, each writing one of the first `N` elements of the `Vec`.
fn scope_cases<const N: usize>() -> Vec<PoolCase> {
    vec![
        case("atomsync scope", "atomsync", |p, data| atomsync_scope(&p.atomsync, &mut data[..N])),
        case("atomsync install+scope", "atomsync_install_scope", |p, data| {
            p.atomsync.install(|| atomsync_scope(&p.atomsync, &mut data[..N]))
        }),
        case("rayon scope", "rayon", |p, data| rayon_scope(&p.rayon, &mut data[..N])),
        // One OS thread per task: what a scope replaces (criterion only, for the 10k size).
        PoolCase {
            compare: None,
            bench: (N == SMALL_SCOPE_TASKS).then_some("std_thread_scope"),
            run: |_, data| std_thread_scope(&mut data[..N]),
        },
    ]
}

fn join_cases() -> Vec<PoolCase> {
    let sequential = |_: &Pools, _: &mut [usize]| {
        for _ in 0..OUTSIDE_JOINS {
            black_box((join_half(JOIN_HALF), join_half(JOIN_HALF)));
        }
    };
    vec![
        case("atomsync join", "atomsync", |p, _| {
            for _ in 0..OUTSIDE_JOINS {
                black_box(p.atomsync.join(|| join_half(JOIN_HALF), || join_half(JOIN_HALF)));
            }
        }),
        case("rayon join", "rayon", |p, _| {
            for _ in 0..OUTSIDE_JOINS {
                black_box(p.rayon.join(|| join_half(JOIN_HALF), || join_half(JOIN_HALF)));
            }
        }),
        PoolCase { compare: Some("sequential"), bench: None, run: sequential },
    ]
}

/// fib(`N`) by recursive `join`.
fn fib_cases<const N: u32>() -> Vec<PoolCase> {
    vec![
        case("atomsync install+join", "atomsync_install_join", |p, _| {
            let pool = &p.atomsync;
            black_box(pool.install(|| fib_atomsync(pool, black_box(N))));
        }),
        // `join` called from outside the pool runs `a` (here: the whole recursion's left
        // spine) on the caller, and offers `b` to the workers.
        case("atomsync join from outside", "atomsync_join_from_outside", |p, _| {
            let pool = &p.atomsync;
            black_box(pool.join(|| fib_atomsync(pool, black_box(N)), || ()));
        }),
        case("rayon install+join", "rayon_install_join", |p, _| {
            black_box(p.rayon.install(|| fib_rayon(black_box(N))));
        }),
        case("rayon join from outside", "rayon_join_from_outside", |p, _| {
            black_box(p.rayon.join(|| fib_rayon(black_box(N)), || ()));
        }),
        case("sequential", "sequential", |_, _| {
            black_box(fib_sequential(black_box(N)));
        }),
    ]
}

/// The tiny task: a few arithmetic operations the optimiser cannot remove.
#[inline]
fn tiny(i: usize) -> usize {
    black_box(i).wrapping_mul(31).wrapping_add(7)
}

fn atomsync_spawn_join(pool: &atomsync::ThreadPool) {
    let handles: Vec<_> = (0..TASKS).map(|i| pool.spawn(move || tiny(i))).collect();
    handles.into_iter().for_each(|handle| {
        black_box(handle.join().unwrap());
    });
}

fn atomsync_execute_wait_idle(pool: &atomsync::ThreadPool) {
    (0..TASKS).for_each(|i| {
        pool.execute(move || {
            tiny(i);
        })
    });
    pool.wait_idle();
}

fn rayon_spawn_latch(pool: &rayon::ThreadPool) {
    let remaining = Arc::new(AtomicUsize::new(TASKS));
    let (done_tx, done_rx) = mpsc::channel::<()>();
    for i in 0..TASKS {
        let (remaining, done_tx) = (Arc::clone(&remaining), done_tx.clone());
        pool.spawn(move || {
            tiny(i);
            if remaining.fetch_sub(1, AcqRel) == 1 {
                done_tx.send(()).unwrap();
            }
        });
    }
    done_rx.recv().unwrap();
}

fn threadpool_execute_join(pool: &threadpool::ThreadPool) {
    (0..TASKS).for_each(|i| {
        pool.execute(move || {
            tiny(i);
        })
    });
    pool.join();
}

fn atomsync_scope(pool: &atomsync::ThreadPool, data: &mut [usize]) {
    pool.scope(|s| {
        for (i, x) in data.iter_mut().enumerate() {
            s.spawn(move || *x = tiny(i));
        }
    })
}

fn rayon_scope(pool: &rayon::ThreadPool, data: &mut [usize]) {
    pool.scope(|s| {
        for (i, x) in data.iter_mut().enumerate() {
            s.spawn(move |_| *x = tiny(i));
        }
    })
}

fn std_thread_scope(data: &mut [usize]) {
    std::thread::scope(|s| {
        for (i, x) in data.iter_mut().enumerate() {
            s.spawn(move || *x = tiny(i));
        }
    })
}

/// `n` tiny operations (about 1 ns each): one half of a join from outside.
fn join_half(n: usize) -> usize {
    (0..n).fold(0, |sum, i| sum.wrapping_add(black_box(i).wrapping_mul(31)))
}

fn fib_sequential(n: u32) -> u64 {
    if n < 2 { n.into() } else { fib_sequential(n - 1) + fib_sequential(n - 2) }
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
