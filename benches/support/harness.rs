//! Running threads against each other: released together from a barrier, stopped by a flag
//! after a duration ([`run_for`]) or when a shared operation total is used up ([`run_total`]),
//! and the run-by-run interleaving and median that every figure goes through.

use std::ops::Range;
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::thread;
use std::time::{Duration, Instant};

/// Keeps a value on its own cache lines, away from the stop flag and the thread handles.
#[repr(align(128))]
pub struct Padded<T>(pub T);

/// The flag that ends a [`run_for`] measurement.
pub struct Stop(Padded<AtomicBool>);

impl Stop {
    /// Whether the worker should go on.
    #[inline]
    pub fn running(&self) -> bool {
        // Relaxed: the flag only ends the loop; the results travel back through `join`.
        !self.0.0.load(Relaxed)
    }
}

/// Runs `worker(index, &stop)` on `threads` threads released together from a barrier, lets
/// them run for `duration`, then raises the stop flag (the worker loops while
/// [`Stop::running`]). Returns the time from the release to the flag, each worker's result,
/// and the CPU time each worker thread was given meanwhile (empty where the OS does not
/// tell). Spawning and joining are not timed.
pub fn run_for<T: Send>(
    threads: usize,
    duration: Duration,
    worker: impl Fn(usize, &Stop) -> T + Sync,
) -> (Duration, Vec<T>, Vec<Duration>) {
    let stop = Stop(Padded(AtomicBool::new(false)));
    let barrier = Barrier::new(threads + 1);
    thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|index| {
                let (worker, stop, barrier) = (&worker, &stop, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    let cpu_before = thread_cpu_time();
                    let result = worker(index, stop);
                    let cpu =
                        thread_cpu_time().zip(cpu_before).map(|(after, before)| after - before);
                    (result, cpu)
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        thread::sleep(duration);
        stop.0.0.store(true, Relaxed);
        let elapsed = start.elapsed();
        let (results, cpu): (Vec<T>, Vec<Option<Duration>>) =
            handles.into_iter().map(|handle| handle.join().expect("worker panicked")).unzip();
        (elapsed, results, cpu.into_iter().collect::<Option<_>>().unwrap_or_default())
    })
}

/// The CPU time the calling thread has used so far (`None` where the OS does not tell).
fn thread_cpu_time() -> Option<Duration> {
    #[cfg(target_os = "linux")]
    {
        let mut time = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `time` is a valid, writable `timespec`, which is all the call writes.
        let result = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut time) };
        (result == 0).then(|| Duration::new(time.tv_sec as u64, time.tv_nsec as u32))
    }
    #[cfg(not(target_os = "linux"))]
    None
}

/// The operations of a [`run_total`] measurement, handed out in batches.
pub struct Claims {
    claimed: Padded<AtomicU64>,
    total: u64,
    batch: u64,
}

impl Claims {
    /// The next batch of operation numbers, or `None` once the total is used up.
    #[inline]
    pub fn next_batch(&self) -> Option<Range<u64>> {
        // Relaxed: the counter only hands out disjoint batches.
        let first = self.claimed.0.fetch_add(self.batch, Relaxed);
        (first < self.total).then(|| first..(first + self.batch).min(self.total))
    }
}

/// Runs `worker(index, &claims)` on `threads` threads released together; the workers claim
/// batches of `batch` operations from a shared `total` (so every thread keeps contending until
/// the total is done, whatever the primitive's fairness). Returns the time from the first
/// worker's start to the last one's finish, and each worker's result.
pub fn run_total<T: Send>(
    threads: usize,
    total: u64,
    batch: u64,
    worker: impl Fn(usize, &Claims) -> T + Sync,
) -> (Duration, Vec<T>) {
    let claims = Claims { claimed: Padded(AtomicU64::new(0)), total, batch };
    let barrier = Barrier::new(threads);
    let spans: Vec<(Instant, Instant, T)> = thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|index| {
                let (worker, claims, barrier) = (&worker, &claims, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    let result = worker(index, claims);
                    (start, Instant::now(), result)
                })
            })
            .collect();
        handles.into_iter().map(|handle| handle.join().expect("worker panicked")).collect()
    });
    let start = spans.iter().map(|span| span.0).min().expect("at least one thread");
    let end = spans.iter().map(|span| span.1).max().expect("at least one thread");
    (end - start, spans.into_iter().map(|span| span.2).collect())
}

/// One measurement: elapsed time and each thread's operation count.
#[derive(Clone, Debug)]
pub struct Sample {
    /// From the barrier's release to the stop flag.
    pub elapsed: Duration,
    /// Operations completed by each thread.
    pub per_thread: Vec<u64>,
    /// The CPU time each thread was given (empty where the OS does not tell).
    pub per_thread_cpu: Vec<Duration>,
}

impl Sample {
    /// Total operations per second.
    pub fn ops_per_second(&self) -> f64 {
        self.per_thread.iter().sum::<u64>() as f64 / self.elapsed.as_secs_f64()
    }

    /// The least-served thread's count over the best-served thread's (1.0 = equal shares).
    pub fn fairness(&self) -> f64 {
        fairness(&self.per_thread)
    }

    /// The same for operations per second of the thread's own CPU time, which leaves out how
    /// the scheduler shared the CPUs among the threads (NaN where CPU times are unknown).
    pub fn fairness_per_cpu_time(&self) -> f64 {
        if self.per_thread_cpu.len() != self.per_thread.len() {
            return f64::NAN;
        }
        let rates = self
            .per_thread
            .iter()
            .zip(&self.per_thread_cpu)
            .map(|(&operations, cpu)| operations as f64 / cpu.as_secs_f64().max(1e-9));
        let (min, max) =
            rates.fold((f64::INFINITY, 0.0_f64), |(min, max), rate| (min.min(rate), max.max(rate)));
        if max == 0.0 { 1.0 } else { min / max }
    }
}

/// The least-served thread's count over the best-served thread's (1.0 = equal shares).
pub fn fairness(per_thread: &[u64]) -> f64 {
    let min = per_thread.iter().copied().min().unwrap_or(0);
    let max = per_thread.iter().copied().max().unwrap_or(0);
    if max == 0 { 1.0 } else { min as f64 / max as f64 }
}

/// `runs` rounds of `measure(index)` for each of `count` implementations, in an order that
/// rotates from round to round so that no implementation always goes first (or right after
/// another) and noise from the rest of the machine hits all of them alike. Returns the results
/// by implementation.
pub fn interleaved<R>(
    runs: usize,
    count: usize,
    mut measure: impl FnMut(usize) -> R,
) -> Vec<Vec<R>> {
    let mut results: Vec<Vec<R>> = (0..count).map(|_| Vec::with_capacity(runs)).collect();
    for run in 0..runs {
        for offset in 0..count {
            let index = (run + offset) % count;
            results[index].push(measure(index));
        }
    }
    results
}

/// The median of `values` (sorts them).
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len() % 2 == 1 { values[middle] } else { (values[middle - 1] + values[middle]) / 2.0 }
}

/// The median of `figure` over `samples`.
pub fn median_of<S>(samples: &[S], figure: impl Fn(&S) -> f64) -> f64 {
    median(&mut samples.iter().map(figure).collect::<Vec<_>>())
}

/// "1 run" or "N runs".
pub fn runs_text(runs: usize) -> String {
    if runs == 1 { "1 run".to_string() } else { format!("{runs} runs") }
}

/// Seconds taken by `f`.
pub fn time_it(f: impl FnOnce()) -> f64 {
    let start = Instant::now();
    f();
    start.elapsed().as_secs_f64()
}

/// The number of CPUs the OS lets this process use.
pub fn cpu_count() -> usize {
    thread::available_parallelism().map_or(1, |count| count.get())
}
