//! Semaphore benchmarks: atomsync vs a textbook `Mutex` + `Condvar` semaphore (on std's
//! primitives, written in `examples/compare.rs`) and `async_lock::Semaphore::acquire_blocking`.
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

#[allow(dead_code)]
#[path = "../examples/compare.rs"]
mod compare;

// The three semaphores and the trait they share are `compare`'s, so the quick comparison and
// the benchmark measure the same code.
use compare::{CondvarSemaphore, SemaphoreLike as Sem};
use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use std::hint::{self, black_box};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

const THREAD_COUNTS: [usize; 4] = [2, 4, 8, 16];
/// Operations a thread claims at a time from the shared total.
const BATCH: u64 = 32;
/// `spin_loop` hints while holding a permit, and again between operations.
const HOLD_SPINS: u32 = 4;

fn spin(count: u32) {
    for _ in 0..count {
        hint::spin_loop();
    }
}

/// `threads` threads doing `total` operations on one semaphore of `permits`; returns the time
/// from the first thread's start to the last thread's finish. Checks that no more than
/// `permits` threads ever held a permit at once.
fn contend_total<S: Sem>(permits: usize, threads: usize, total: u64) -> Duration {
    let semaphore = Arc::new(S::new(permits));
    let claimed = Arc::new(AtomicU64::new(0));
    let holders = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (semaphore, claimed, holders, barrier) = (
                Arc::clone(&semaphore),
                Arc::clone(&claimed),
                Arc::clone(&holders),
                Arc::clone(&barrier),
            );
            thread::spawn(move || {
                barrier.wait();
                let start = Instant::now();
                loop {
                    // Relaxed: the counter only hands out disjoint batches.
                    let first = claimed.fetch_add(BATCH, Relaxed);
                    if first >= total {
                        break;
                    }
                    for _ in first..(first + BATCH).min(total) {
                        semaphore.with_permit(|| {
                            // Relaxed: a sanity count; the semaphore orders the holders.
                            let now = holders.fetch_add(1, Relaxed);
                            debug_assert!(now < permits);
                            black_box(now);
                            spin(HOLD_SPINS);
                            holders.fetch_sub(1, Relaxed);
                        });
                        spin(HOLD_SPINS);
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

fn contended(c: &mut Criterion, permits: usize) {
    fn one<S: Sem>(
        group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
        permits: usize,
        threads: usize,
    ) {
        group.bench_with_input(
            BenchmarkId::new(S::NAME, threads),
            &threads,
            |b, &threads| {
                b.iter_custom(|iters| contend_total::<S>(permits, threads, iters));
            },
        );
    }
    let mut group = c.benchmark_group(format!("semaphore_k{permits}"));
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Elements(1))
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(1000));
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
