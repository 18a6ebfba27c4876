//! Semaphore benchmarks: atomsync vs a textbook `Mutex` + `Condvar` semaphore (on std's
//! primitives, written in `benches/support/`) and `async_lock::Semaphore::acquire_blocking`.
//!
//! ```text
//! cargo bench --bench semaphore                  # everything, about 1 minute
//! cargo bench --bench semaphore -- k1            # a criterion filter (regex on the id)
//! ```
//!
//! - `semaphore_k1/<impl>/<threads>` and `semaphore_k4/<impl>/<threads>`: a semaphore of 1 or
//!   4 permits, 2, 4, 8 or 16 threads that each loop: acquire one permit, hold it for a short
//!   spin (4 `spin_loop` hints, ~100 ns here), release, spin as long again outside. Throughput in
//!   operations (acquire + release) per second.
//!
//! As in `benches/mutex.rs`, criterion's `iters` is the total operation count of a
//! measurement, claimed by the threads in batches from a shared counter, and the elapsed time
//! runs from the first thread's start to the last thread's finish (spawning is not timed).

// Each bench uses part of the shared harness.
#[allow(dead_code)]
mod support;

// The three semaphores and the workload are the harness's, so the quick comparison and the
// benchmark measure the same code.
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion};
use support::groups::{bench_threads, contended_group};
use support::semaphore::{CondvarSemaphore, SemaphoreLike as Sem, semaphore_contend_total};

const THREAD_COUNTS: [usize; 4] = [2, 4, 8, 16];
/// Operations a thread claims at a time from the shared total.
const BATCH: u64 = 32;

fn contended(c: &mut Criterion, permits: usize) {
    fn one<S: Sem>(group: &mut BenchmarkGroup<'_, WallTime>, permits: usize, threads: usize) {
        bench_threads(group, S::NAME, threads, |threads, total| {
            semaphore_contend_total::<S>(permits, threads, total, BATCH)
        });
    }
    let mut group = contended_group(c, &format!("semaphore_k{permits}"), 200, 1000);
    for threads in THREAD_COUNTS {
        one::<atomsync::Semaphore>(&mut group, permits, threads);
        one::<CondvarSemaphore>(&mut group, permits, threads);
        one::<async_lock::Semaphore>(&mut group, permits, threads);
    }
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    contended(&mut criterion, 1);
    contended(&mut criterion, 4);
    criterion.final_summary();
}
