//! `--primitive machine`: what the machine itself allows, measured with no lock at all, to read
//! the other tables by. Three controls:
//!
//! - **Each CPU's speed.** One thread pinned to each CPU, all counting the same arithmetic at
//!   once. On a VM the host may take part of one vCPU; a barging lock (ours, parking_lot's,
//!   async-lock's) gives its threads turns of about equal *time*, so a thread on a slower CPU
//!   ends with fewer operations whatever the lock does. The guest counts the stolen time as
//!   the thread's own, so the per-CPU-time fairness table does not take this out.
//! - **A cache line's trip between two CPUs.** Two threads pinned to two CPUs pass a counter
//!   back and forth. Every lock hand-over between CPUs costs at least one such trip
//!   (the lock word, with the data if it shares the line), so a critical section of `c`
//!   handed over at every acquisition cannot run faster than one per `c` plus a trip.
//! - **Fairness with no lock.** The semaphore workload's shape (take one from a counter, 4
//!   spins, put it back, 4 spins) on a bare atomic counter, which never waits: its fairness is
//!   the kernel's placement of threads that never sleep. The same with a 1 µs sleep every
//!   3 000 operations shows what a few voluntary sleeps do: each wake-up lets the kernel place
//!   the thread anew. A lock whose threads sleep now and then (async-lock's semaphore, on its
//!   event list's mutex) scores closer to the second column without being fairer itself.

use crate::support::harness::{
    Padded, Sample, cpu_count, interleaved, median, median_of, run_for, runs_text,
};
use crate::support::mutex::spin_work;
use crate::support::semaphore::{SEMAPHORE_HOLD_SPINS, spin};
use crate::{Chart, Options};
use std::hint::spin_loop;
use std::sync::atomic::{AtomicU64, Ordering::Acquire, Ordering::Relaxed, Ordering::Release};
use std::thread;
use std::time::Duration;

/// Iterations of `spin_work` per look at the stop flag in the speed control.
const SPEED_BATCH: u32 = 1_000;
/// Operations between two sleeps in the sleeping variant of the no-lock control.
const SLEEP_EVERY: u64 = 3_000;

/// Runs the three controls and prints their tables.
pub fn compare_machine(options: &Options) -> Vec<Chart> {
    let runs = options.plan.runs;
    let duration = options.plan.duration;
    let cpus = allowed_cpus();
    cpu_speeds(&cpus, runs, duration);
    cache_line_trip(&cpus, runs, duration);
    fairness_without_a_lock(&options.plan.threads, runs, duration);
    Vec::new()
}

/// The CPUs this process may run on (its affinity mask), or `0..cpu_count()` where the OS
/// does not tell.
fn allowed_cpus() -> Vec<usize> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: as in `pin_to`: all zeroes is a valid `cpu_set_t`, which
        // `sched_getaffinity` fills (writing at most its size) and `CPU_ISSET` reads within
        // its size (every index below is under it).
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0 {
                return (0..8 * std::mem::size_of::<libc::cpu_set_t>())
                    .filter(|&cpu| libc::CPU_ISSET(cpu, &set))
                    .collect();
            }
        }
    }
    (0..cpu_count()).collect()
}

/// Pins the calling thread to `cpu`; false where that is not possible.
fn pin_to(cpu: usize) -> bool {
    #[cfg(target_os = "linux")]
    {
        if cpu >= 8 * std::mem::size_of::<libc::cpu_set_t>() {
            return false;
        }
        // SAFETY: `cpu_set_t` is an array of integers, for which all zeroes is a valid (empty)
        // set; `CPU_SET` sets bit `cpu`, within the set's size (checked above); and
        // `sched_setaffinity` reads `size_of::<cpu_set_t>()` bytes of `set`, all of it.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = cpu;
        false
    }
}

/// One thread pinned to each CPU of `cpus`, all counting at once: millions of iterations per
/// second per CPU (median of `runs`), and the slowest over the fastest.
fn cpu_speeds(cpus: &[usize], runs: usize, duration: Duration) {
    let mut per_cpu: Vec<Vec<f64>> = vec![Vec::with_capacity(runs); cpus.len()];
    for _ in 0..runs {
        let (elapsed, counts, _) = run_for(cpus.len(), duration, |index, stop| {
            if !pin_to(cpus[index]) {
                return None;
            }
            let mut batches = 0_u64;
            while stop.running() {
                spin_work(SPEED_BATCH);
                batches += 1;
            }
            Some(batches * u64::from(SPEED_BATCH))
        });
        for (index, count) in counts.into_iter().enumerate() {
            let Some(count) = count else {
                println!("CPU speeds: cannot pin threads to CPUs here; skipped\n");
                return;
            };
            per_cpu[index].push(count as f64 / elapsed.as_secs_f64() / 1e6);
        }
    }
    let speeds: Vec<f64> = per_cpu.iter_mut().map(|samples| median(samples)).collect();
    let slowest = speeds.iter().copied().fold(f64::INFINITY, f64::min);
    let fastest = speeds.iter().copied().fold(0.0, f64::max);
    println!(
        "CPU speeds: one thread pinned to each CPU, all counting at once (M iterations/s), \
         median of {} x {} ms",
        runs_text(runs),
        duration.as_millis()
    );
    println!();
    println!("| CPU | M iterations/s |");
    println!("|----:|---------------:|");
    for (cpu, speed) in cpus.iter().zip(&speeds) {
        println!("| {cpu:>3} | {speed:>14.1} |");
    }
    println!();
    println!("slowest / fastest: {:.2}\n", slowest / fastest.max(f64::MIN_POSITIVE));
}

/// Two threads pinned to the first two CPUs this process may use pass a counter back and
/// forth for `duration`: the median time of one trip. Skipped unless both could be pinned
/// (on one CPU, each trip would wait for a time slice).
fn cache_line_trip(cpus: &[usize], runs: usize, duration: Duration) {
    let &[first, second, ..] = cpus else {
        println!("cache-line trip: needs 2 CPUs; skipped\n");
        return;
    };
    let mut nanos = Vec::with_capacity(runs);
    for _ in 0..runs {
        let turn = Padded(AtomicU64::new(0));
        let (elapsed, pinned, _) = run_for(2, duration, |me, stop| {
            if !pin_to([first, second][me]) {
                return false;
            }
            let mut mine = me as u64;
            while stop.running() {
                // Acquire/Release: the counter is the only data, and each side waits for the
                // other's store before it writes its own.
                if turn.0.load(Acquire) == mine {
                    turn.0.store(mine + 1, Release);
                    mine += 2;
                } else {
                    spin_loop();
                }
            }
            true
        });
        if !pinned.iter().all(|&pinned| pinned) {
            println!("cache-line trip: cannot pin threads to CPUs here; skipped\n");
            return;
        }
        let trips = turn.0.into_inner().max(1);
        nanos.push(elapsed.as_nanos() as f64 / trips as f64);
    }
    println!(
        "cache-line trip between CPU {first} and CPU {second}: {:.0} ns one way (median of {} x {} \
         ms)\n",
        median(&mut nanos),
        runs_text(runs),
        duration.as_millis()
    );
}

/// The semaphore workload's shape on a bare counter (never waits), and the same with a 1 µs
/// sleep every `SLEEP_EVERY` operations: fairness by thread count, and per CPU time.
fn fairness_without_a_lock(threads: &[usize], runs: usize, duration: Duration) {
    println!(
        "fairness with no lock: a bare counter (take 1, 4 spins, put back, 4 spins), never \
         waiting; per-thread ops, min/max, median of {} x {} ms",
        runs_text(runs),
        duration.as_millis()
    );
    println!();
    println!(
        "| threads | bare counter | per CPU time | + 1 us sleep every {SLEEP_EVERY} ops | per CPU time |"
    );
    println!("|--------:|-------------:|-------------:|------------:|-------------:|");
    for &count in threads {
        let samples = interleaved(runs, 2, |variant| counter_run(count, duration, variant == 1));
        let cells: Vec<String> = samples
            .iter()
            .flat_map(|samples| {
                [
                    median_of(samples, Sample::fairness),
                    median_of(samples, Sample::fairness_per_cpu_time),
                ]
            })
            .map(|figure| format!("{figure:.2}"))
            .collect();
        println!(
            "| {count:>7} | {:>12} | {:>12} | {:>11} | {:>12} |",
            cells[0], cells[1], cells[2], cells[3]
        );
    }
    println!();
}

/// One run of the no-lock control on `threads` threads.
fn counter_run(threads: usize, duration: Duration, sleeps: bool) -> Sample {
    let counter = Padded(AtomicU64::new(threads as u64));
    let (elapsed, per_thread, per_thread_cpu) = run_for(threads, duration, |_, stop| {
        let mut operations = 0_u64;
        while stop.running() {
            // Relaxed: a count only; nothing is published through it.
            counter.0.fetch_sub(1, Relaxed);
            spin(SEMAPHORE_HOLD_SPINS);
            counter.0.fetch_add(1, Relaxed);
            spin(SEMAPHORE_HOLD_SPINS);
            operations += 1;
            if sleeps && operations.is_multiple_of(SLEEP_EVERY) {
                thread::sleep(Duration::from_micros(1));
            }
        }
        operations
    });
    Sample { elapsed, per_thread, per_thread_cpu }
}
