//! Condvar benchmarks: atomsync vs `std::sync::Condvar` (with std's `Mutex`) vs parking_lot.
//!
//! ```text
//! cargo bench --bench condvar                    # everything, about 30 s on 2 cores
//! cargo bench --bench condvar -- ping_pong       # a criterion filter (regex on the id)
//! ```
//!
//! - `condvar_ping_pong/<impl>`: two threads take turns through one mutex-protected counter
//!   and one condvar (wait while it is the other's turn, increment, `notify_one`). One
//!   iteration is a round trip (two hand-overs); the time per iteration is the round-trip time.
//! - `condvar_notify_all_32/<impl>`: 32 threads wait on one condvar; the main thread bumps a
//!   generation under the lock and calls `notify_all` while still holding it. One iteration is
//!   the time from just before `notify_all` until the last of the 32 has re-acquired the
//!   mutex (that waiter reads the clock inside its critical section). Getting the 32 back
//!   into `wait` between rounds is not timed, and the main thread sleeps meanwhile (it learns
//!   of progress through atomics and `unpark`, so it never competes for the mutex). A condvar that requeues waiters onto the mutex
//!   (atomsync, parking_lot) wakes them one at a time; std's wakes them all at once.

// Each bench uses part of the shared harness.
#[allow(dead_code)]
mod support;

// The workloads are the harness's, so the quick comparison and the benchmark measure the same
// code.
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::time::Duration;
use support::condvar::{
    AtomsyncPair, CondvarPair, ParkingLotPair, StdPair, notify_all_rounds, ping_pong,
};

fn condvar_benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("condvar_ping_pong");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    // One element = one round trip, so criterion also reports round trips per second.
    group.throughput(Throughput::Elements(1));
    group.bench_function(AtomsyncPair::NAME, |b| b.iter_custom(ping_pong::<AtomsyncPair>));
    group.bench_function(StdPair::NAME, |b| b.iter_custom(ping_pong::<StdPair>));
    group.bench_function(ParkingLotPair::NAME, |b| b.iter_custom(ping_pong::<ParkingLotPair>));
    group.finish();

    let mut group = c.benchmark_group("condvar_notify_all_32");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    group.bench_function(AtomsyncPair::NAME, |b| b.iter_custom(notify_all_rounds::<AtomsyncPair>));
    group.bench_function(StdPair::NAME, |b| b.iter_custom(notify_all_rounds::<StdPair>));
    group.bench_function(ParkingLotPair::NAME, |b| {
        b.iter_custom(notify_all_rounds::<ParkingLotPair>)
    });
    group.finish();
}

criterion_group!(benches, condvar_benches);
criterion_main!(benches);
