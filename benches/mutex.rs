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
//!   table comes from `cargo run --release --example compare -- --primitive starvation`:
//!   both use the harness and workloads of `benches/support/`.
//!
//! Contended measurements use `iter_custom`: criterion's `iters` is the total operation count
//! of a measurement, which the threads claim in small batches from a shared counter (so every
//! thread keeps contending until the total is done, whatever the lock's fairness). The elapsed
//! time runs from the first thread's start to the last thread's finish; spawning is not timed.
//! `spin::Mutex` with more threads than CPUs spins through the time slices of preempted
//! owners; its oversubscribed cases get a shorter measurement time to keep the run short.

// Each bench uses part of the shared harness.
#[allow(dead_code)]
mod support;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput};
use std::hint::black_box;
use std::time::Duration;
use support::groups::{bench_threads, calibrated_work, contended_group, set_times};
use support::harness::cpu_count;
use support::mutex::{Lock, Work, contend_total};

const THREAD_COUNTS: [usize; 5] = [1, 2, 4, 8, 16];

/// Operations a thread claims at a time from the shared total.
const BATCH: u64 = 64;

fn uncontended(c: &mut Criterion) {
    fn one<L: Lock>(group: &mut BenchmarkGroup<'_, WallTime>) {
        let lock = L::new(0);
        group.bench_function(L::NAME, |b| b.iter(|| black_box(&lock).with(|value| *value += 1)));
    }
    let mut group = c.benchmark_group("mutex_uncontended");
    group.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(1));
    one::<atomsync::Mutex<u64>>(&mut group);
    one::<std::sync::Mutex<u64>>(&mut group);
    one::<parking_lot::Mutex<u64>>(&mut group);
    one::<spin::Mutex<u64>>(&mut group);
    group.finish();
}

fn mutex_groups(c: &mut Criterion, name: &str, work: Work) {
    fn one<L: Lock>(group: &mut BenchmarkGroup<'_, WallTime>, threads: usize, work: Work) {
        bench_threads(group, L::NAME, threads, |threads, total| {
            contend_total::<L>(threads, total, BATCH, work)
        });
    }
    let cpus = cpu_count();
    let mut group = contended_group(c, name, 300, 1200);
    for threads in THREAD_COUNTS {
        set_times(&mut group, 300, 1200);
        one::<atomsync::Mutex<u64>>(&mut group, threads, work);
        one::<std::sync::Mutex<u64>>(&mut group, threads, work);
        one::<parking_lot::Mutex<u64>>(&mut group, threads, work);
        if threads > cpus {
            // Oversubscribed spinning is slow and erratic: measure less of it.
            set_times(&mut group, 200, 500);
        }
        one::<spin::Mutex<u64>>(&mut group, threads, work);
    }
    group.finish();
}

fn contended(c: &mut Criterion) {
    let work = calibrated_work(100, 200);
    mutex_groups(c, "mutex_contended_tiny", Work::default());
    mutex_groups(c, "mutex_contended_100ns", work);
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
        support::latency::print_starvation(&[4], Duration::from_millis(500), 3);
    }
}
