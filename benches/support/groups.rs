//! What the contended criterion benches share: a group in flat sampling mode whose element is
//! one operation, one benchmark per (implementation, thread count) timed by the harness, and
//! the calibrated work.

use super::mutex::{CriticalSection, Work, calibrate_spin_work};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput};
use std::time::Duration;

/// A group of 10 samples in flat sampling mode (each sample a fresh set of threads), one
/// element per operation, with `warm_up_ms` and `measure_ms`.
pub fn contended_group<'a>(
    c: &'a mut Criterion,
    name: &str,
    warm_up_ms: u64,
    measure_ms: u64,
) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group.sample_size(10).sampling_mode(SamplingMode::Flat).throughput(Throughput::Elements(1));
    set_times(&mut group, warm_up_ms, measure_ms);
    group
}

/// Sets the warm-up and measurement times of the benchmarks added next.
pub fn set_times(group: &mut BenchmarkGroup<'_, WallTime>, warm_up_ms: u64, measure_ms: u64) {
    group
        .warm_up_time(Duration::from_millis(warm_up_ms))
        .measurement_time(Duration::from_millis(measure_ms));
}

/// Benchmarks `name` at `threads` threads: criterion's `iters` is the operation total, and
/// `measure(threads, total)` returns the time it took (from `run_total`).
pub fn bench_threads(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    threads: usize,
    measure: impl Fn(usize, u64) -> Duration,
) {
    group.bench_with_input(BenchmarkId::new(name, threads), &threads, |b, &threads| {
        b.iter_custom(|iters| measure(threads, iters));
    });
}

/// The work for about `inside_ns` under the lock and `outside_ns` after it, calibrated now;
/// says so on stderr.
pub fn calibrated_work(inside_ns: u32, outside_ns: u32) -> Work {
    let ns_per_iteration = calibrate_spin_work();
    let work = Work::new(CriticalSection::Work { inside_ns, outside_ns }, ns_per_iteration);
    eprintln!(
        "work spin: {ns_per_iteration:.2} ns/iteration; ~{inside_ns} ns = {} iterations inside, ~{outside_ns} ns = {} outside",
        work.inside, work.outside
    );
    work
}
