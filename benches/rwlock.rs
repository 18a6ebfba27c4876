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
//! The workload (`rwlock_operation`) lives in `benches/support/`, so that
//! `cargo run --release --example compare -- --primitive rwlock` measures the same thing.

// Each bench uses part of the shared harness.
#[allow(dead_code)]
mod support;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion};
use support::groups::{bench_threads, calibrated_work, contended_group};
use support::mutex::Work;
use support::rwlock::{RWLOCK_MIXES, RwLockish, rwlock_contend_total};

const THREAD_COUNTS: [usize; 5] = [1, 2, 4, 8, 16];

/// Operations a thread claims at a time from the shared total.
const BATCH: u64 = 64;

fn mix_group(c: &mut Criterion, read_percent: u32, work: Work) {
    fn one<L: RwLockish>(
        group: &mut BenchmarkGroup<'_, WallTime>,
        threads: usize,
        read_percent: u32,
        work: Work,
    ) {
        bench_threads(group, L::NAME, threads, |threads, total| {
            rwlock_contend_total::<L>(threads, total, BATCH, read_percent, work)
        });
    }
    let mut group = contended_group(c, &format!("rwlock_read{read_percent}"), 200, 800);
    for threads in THREAD_COUNTS {
        one::<atomsync::RwLock<u64>>(&mut group, threads, read_percent, work);
        one::<std::sync::RwLock<u64>>(&mut group, threads, read_percent, work);
        one::<parking_lot::RwLock<u64>>(&mut group, threads, read_percent, work);
    }
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    let work = calibrated_work(50, 100);
    for read_percent in RWLOCK_MIXES {
        mix_group(&mut criterion, read_percent, work);
    }
    criterion.final_summary();
}
