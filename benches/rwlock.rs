//! RwLock benchmarks: atomsync vs `std::sync::RwLock` and `parking_lot::RwLock`.
//!
//! ```text
//! cargo bench --bench rwlock                     # everything, about 1.5 minutes on 2 cores
//! cargo bench --bench rwlock -- read90           # a criterion filter (regex on the id)
//! ```
//!
//! - `rwlock_read100/<impl>/<threads>`: every operation is a read lock, read, ~50 ns of work,
//!   unlock, then ~100 ns of work outside (the short critical section; the spin is calibrated
//!   at start-up).
//! - `rwlock_read90/...`: 90 % such reads, 10 % writes (increment + the same work).
//! - `rwlock_read50/...`: half and half.
//!
//! Threads claim operations in batches from a shared total (criterion's `iters`), as in
//! `benches/mutex.rs`; the time runs from the first thread's start to the last one's finish.
//! The workload (`rwlock_operation`) lives in `examples/compare.rs`, included as a module, so
//! that `cargo run --release --example compare -- --primitive rwlock` measures the same thing.

#[allow(dead_code)]
#[path = "../examples/compare.rs"]
mod compare;

use compare::{CriticalSection, Padded, RwLockish, Work};
use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

const THREAD_COUNTS: [usize; 5] = [1, 2, 4, 8, 16];

/// Operations a thread claims at a time from the shared total.
const BATCH: u64 = 64;

/// `threads` threads doing `total` operations of the mix on one `L` between them; returns the
/// time from the first thread's start to the last thread's finish.
fn contend_total<L: RwLockish>(threads: usize, total: u64, read_percent: u32, work: Work) -> Duration {
    let lock = Arc::new(Padded(L::new(0)));
    let claimed = Arc::new(Padded(AtomicU64::new(0)));
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|index| {
            let (lock, claimed, barrier) = (Arc::clone(&lock), Arc::clone(&claimed), Arc::clone(&barrier));
            thread::spawn(move || {
                let mut rng = 0x2545_F491_4F6C_DD1D_u64 ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9);
                let mut writes = 0;
                barrier.wait();
                let start = Instant::now();
                loop {
                    // Relaxed: the counter only hands out disjoint batches.
                    let first = claimed.0.fetch_add(BATCH, Relaxed);
                    if first >= total {
                        break;
                    }
                    for _ in first..(first + BATCH).min(total) {
                        writes += compare::rwlock_operation(&lock.0, read_percent, work, &mut rng);
                    }
                }
                (start, Instant::now(), writes)
            })
        })
        .collect();
    let spans: Vec<(Instant, Instant, u64)> =
        handles.into_iter().map(|handle| handle.join().expect("worker panicked")).collect();
    assert_eq!(lock.0.read(|value| *value), spans.iter().map(|span| span.2).sum::<u64>(), "{} lost writes", L::NAME);
    let start = spans.iter().map(|span| span.0).min().expect("at least one thread");
    let end = spans.iter().map(|span| span.1).max().expect("at least one thread");
    end - start
}

fn mix_group(c: &mut Criterion, read_percent: u32, work: Work) {
    fn one<L: RwLockish>(
        group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
        threads: usize,
        read_percent: u32,
        work: Work,
    ) {
        group.bench_with_input(BenchmarkId::new(L::NAME, threads), &threads, |b, &threads| {
            b.iter_custom(|iters| contend_total::<L>(threads, iters, read_percent, work));
        });
    }
    let mut group = c.benchmark_group(format!("rwlock_read{read_percent}"));
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Elements(1))
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(800));
    for threads in THREAD_COUNTS {
        one::<atomsync::RwLock<u64>>(&mut group, threads, read_percent, work);
        one::<std::sync::RwLock<u64>>(&mut group, threads, read_percent, work);
        one::<parking_lot::RwLock<u64>>(&mut group, threads, read_percent, work);
    }
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    let ns_per_iteration = compare::calibrate_spin_work();
    let work = Work::new(CriticalSection::Work { inside_ns: 50, outside_ns: 100 }, ns_per_iteration);
    eprintln!(
        "work spin: {ns_per_iteration:.2} ns/iteration; ~50 ns = {} iterations inside, ~100 ns = {} outside",
        work.inside, work.outside
    );
    for read_percent in compare::RWLOCK_MIXES {
        mix_group(&mut criterion, read_percent, work);
    }
    criterion.final_summary();
}
