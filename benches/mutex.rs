//! Mutex benchmarks: atomsync vs `std::sync::Mutex`, `parking_lot::Mutex` and `spin::Mutex`.
//!
//! ```text
//! cargo bench --bench mutex                      # everything, about 2-3 minutes on 2 cores
//! cargo bench --bench mutex -- uncontended       # a criterion filter (regex on the id)
//! cargo bench --bench mutex -- starvation        # only the starvation table
//! ```
//!
//! - `mutex_uncontended/<impl>`: one thread, lock + increment + unlock.
//! - `mutex_contended_tiny/<impl>/<threads>`: N threads share a fixed number of operations
//!   (lock, increment, unlock); throughput in operations per second.
//! - `mutex_contended_100ns/<impl>/<threads>`: the same with ~100 ns of arithmetic under the
//!   lock and ~200 ns outside it (the spin is calibrated at start-up).
//! - `starvation` (printed after the criterion runs, not a criterion timing): 4 threads
//!   contending (tiny critical section), the p50/p99/p99.9/max wait to acquire. The same
//!   table comes from `cargo run --release --example compare -- --primitive starvation`,
//!   which is where its code lives: this file includes `examples/compare.rs` as a module so
//!   that both use one definition of the workloads.
//!
//! Contended measurements use `iter_custom`: criterion's `iters` is the total operation count
//! of a measurement, which the threads claim in small batches from a shared counter (so every
//! thread keeps contending until the total is done, whatever the lock's fairness). The elapsed
//! time runs from the first thread's start to the last thread's finish; spawning is not timed.
//! `spin::Mutex` with more threads than CPUs spins through the time slices of preempted
//! owners; its oversubscribed cases get a shorter measurement time to keep the run short.

#[allow(dead_code)]
#[path = "../examples/compare.rs"]
mod compare;

use compare::{CriticalSection, Lock, Padded, Work};
use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

const THREAD_COUNTS: [usize; 5] = [1, 2, 4, 8, 16];

/// Operations a thread claims at a time from the shared total.
const BATCH: u64 = 64;

fn uncontended(c: &mut Criterion) {
    fn one<L: Lock>(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
        let lock = L::new(0);
        group.bench_function(L::NAME, |b| {
            b.iter(|| black_box(&lock).with(|value| *value += 1))
        });
    }
    let mut group = c.benchmark_group("mutex_uncontended");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(1));
    one::<atomsync::Mutex<u64>>(&mut group);
    one::<std::sync::Mutex<u64>>(&mut group);
    one::<parking_lot::Mutex<u64>>(&mut group);
    one::<spin::Mutex<u64>>(&mut group);
    group.finish();
}

/// `threads` threads doing `total` operations of `work` on one `L` between them; returns the
/// time from the first thread's start to the last thread's finish.
fn contend_total<L: Lock>(threads: usize, total: u64, work: Work) -> Duration {
    let lock = Arc::new(Padded(L::new(0)));
    let claimed = Arc::new(Padded(AtomicU64::new(0)));
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (lock, claimed, barrier) = (
                Arc::clone(&lock),
                Arc::clone(&claimed),
                Arc::clone(&barrier),
            );
            thread::spawn(move || {
                barrier.wait();
                let start = Instant::now();
                loop {
                    // Relaxed: the counter only hands out disjoint batches.
                    let first = claimed.0.fetch_add(BATCH, Relaxed);
                    if first >= total {
                        break;
                    }
                    for _ in first..(first + BATCH).min(total) {
                        work.operation(&lock.0);
                    }
                }
                (start, Instant::now())
            })
        })
        .collect();
    let spans: Vec<(Instant, Instant)> = handles
        .into_iter()
        .map(|handle| handle.join().expect("worker panicked"))
        .collect();
    assert_eq!(
        lock.0.with(|value| *value),
        total,
        "{} lost increments",
        L::NAME
    );
    let start = spans
        .iter()
        .map(|span| span.0)
        .min()
        .expect("at least one thread");
    let end = spans
        .iter()
        .map(|span| span.1)
        .max()
        .expect("at least one thread");
    end - start
}

fn contended_group(c: &mut Criterion, name: &str, work: Work) {
    fn one<L: Lock>(
        group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
        threads: usize,
        work: Work,
    ) {
        group.bench_with_input(
            BenchmarkId::new(L::NAME, threads),
            &threads,
            |b, &threads| {
                b.iter_custom(|iters| contend_total::<L>(threads, iters, work));
            },
        );
    }
    let cpus = thread::available_parallelism().map_or(1, |count| count.get());
    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Elements(1));
    for threads in THREAD_COUNTS {
        group
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_millis(1200));
        one::<atomsync::Mutex<u64>>(&mut group, threads, work);
        one::<std::sync::Mutex<u64>>(&mut group, threads, work);
        one::<parking_lot::Mutex<u64>>(&mut group, threads, work);
        if threads > cpus {
            // Oversubscribed spinning is slow and erratic: measure less of it.
            group
                .warm_up_time(Duration::from_millis(200))
                .measurement_time(Duration::from_millis(500));
        }
        one::<spin::Mutex<u64>>(&mut group, threads, work);
    }
    group.finish();
}

fn contended(c: &mut Criterion) {
    let ns_per_iteration = compare::calibrate_spin_work();
    let work = Work::new(
        CriticalSection::Work {
            inside_ns: 100,
            outside_ns: 200,
        },
        ns_per_iteration,
    );
    eprintln!(
        "work spin: {ns_per_iteration:.2} ns/iteration; ~100 ns = {} iterations inside, ~200 ns = {} outside",
        work.inside, work.outside
    );
    contended_group(c, "mutex_contended_tiny", Work::default());
    contended_group(c, "mutex_contended_100ns", work);
}

/// Whether the command line asks for real benchmarking (not `cargo test --benches`, not
/// `--list`) with no filter, or a filter that names the starvation figure.
fn starvation_requested() -> bool {
    // criterion flags that take a value, so their value is not mistaken for a filter.
    const VALUE_FLAGS: &[&str] = &[
        "--save-baseline",
        "-s",
        "--baseline",
        "-b",
        "--baseline-lenient",
        "--load-baseline",
        "--sample-size",
        "--warm-up-time",
        "--measurement-time",
        "--nresamples",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--profile-time",
        "--format",
        "--color",
        "-c",
        "--output-format",
        "--plotting-backend",
    ];
    let args: Vec<String> = std::env::args().skip(1).collect();
    let has = |flag: &str| args.iter().any(|arg| arg == flag);
    if !has("--bench")
        || has("--test")
        || has("--list")
        || args.iter().any(|arg| arg.starts_with("--profile-time"))
    {
        return false;
    }
    let mut filters = Vec::new();
    let mut skip_value = false;
    for arg in &args {
        if skip_value {
            skip_value = false;
        } else if arg.starts_with('-') {
            skip_value = VALUE_FLAGS.contains(&arg.as_str());
        } else {
            filters.push(arg.as_str());
        }
    }
    filters.is_empty()
        || filters
            .iter()
            .any(|filter| "starvation".contains(filter) || filter.contains("starvation"))
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    uncontended(&mut criterion);
    contended(&mut criterion);
    criterion.final_summary();
    if starvation_requested() {
        println!();
        compare::print_starvation(&[4], Duration::from_millis(500), 3);
    }
}
