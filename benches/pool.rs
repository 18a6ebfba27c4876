//! ThreadPool benchmarks: atomsync vs rayon vs the `threadpool` crate (and `std::thread::scope`
//! for the scope case). Every pool has `available_parallelism()` workers and is built once,
//! outside the timed loop.
//!
//! ```text
//! cargo bench --bench pool                  # everything, about 1.5 min on 2 cores (before the 100k-scope and fib(32) groups)
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
//! - `pool_scope_100k/<impl>`: the same with 100 000 tasks (issue 13's size), without the OS
//!   threads.
//! - `pool_fib30/<impl>`, `pool_fib32/<impl>`: recursive `join` computing fib(30) (about 1 200
//!   joins) or fib(32) (about 3 200), sequential below n = 18, entered through `install` (on a worker) and through `join` from outside the
//!   pool (atomsync then runs the left spine on the caller); `sequential` is the plain
//!   recursion on one thread.
//! - `pool_join_outside_1000/<impl>`: 1 000 `join`s called from the main thread, each of two
//!   halves of ~2 000 tiny operations.

// Each bench uses part of the shared harness.
#[allow(dead_code)]
mod support;

use criterion::Criterion;
use std::time::Duration;
use support::harness::cpu_count;
use support::pool::{Pools, SCOPE_TASKS, pool_workloads};

/// One criterion group per workload of `benches/support/pool.rs` (the list
/// `compare --primitive pool` measures too), one benchmark per case it names for criterion.
fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    let pools = Pools::new(cpu_count());
    let mut data = vec![0usize; SCOPE_TASKS];
    for workload in pool_workloads() {
        let (sample_size, seconds) = workload.bench_samples;
        let mut group = criterion.benchmark_group(workload.group);
        group
            .sample_size(sample_size)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(seconds));
        for case in &workload.cases {
            if let Some(id) = case.bench {
                group.bench_function(id, |b| b.iter(|| (case.run)(&pools, &mut data)));
            }
        }
        group.finish();
    }
    criterion.final_summary();
}
