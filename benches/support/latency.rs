//! Starvation: how long each `lock()` call of a contended mutex waits, as percentiles.

use super::harness::{Padded, fairness, interleaved, median_of, run_for, runs_text};
use super::mutex::Lock;
use super::table::format_ns;
use std::time::{Duration, Instant};

/// A log-linear histogram of nanosecond values: 16 sub-buckets per power of two (~6 %).
#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    max: u64,
    total: u64,
}

const SUB_BUCKET_BITS: u32 = 4;
const SUB_BUCKETS: u64 = 1 << SUB_BUCKET_BITS;

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    /// An empty histogram (allocated up front: recording never allocates).
    pub fn new() -> Self {
        Histogram { counts: vec![0; 64 * SUB_BUCKETS as usize], max: 0, total: 0 }
    }

    fn index(value: u64) -> usize {
        if value < SUB_BUCKETS {
            return value as usize;
        }
        let top_bit = 63 - value.leading_zeros();
        let shift = top_bit - SUB_BUCKET_BITS;
        ((top_bit - SUB_BUCKET_BITS + 1) as u64 * SUB_BUCKETS
            + ((value >> shift) & (SUB_BUCKETS - 1))) as usize
    }

    /// The largest value that falls into bucket `index`.
    fn upper_bound(index: usize) -> u64 {
        let index = index as u64;
        if index < SUB_BUCKETS {
            return index;
        }
        let shift = index / SUB_BUCKETS - 1;
        ((SUB_BUCKETS + index % SUB_BUCKETS) << shift) + (1 << shift) - 1
    }

    /// Records one value.
    #[inline]
    pub fn record(&mut self, value: u64) {
        self.counts[Self::index(value)] += 1;
        self.max = self.max.max(value);
        self.total += 1;
    }

    /// Adds `other`'s values.
    pub fn merge(&mut self, other: &Histogram) {
        for (count, more) in self.counts.iter_mut().zip(&other.counts) {
            *count += more;
        }
        self.max = self.max.max(other.max);
        self.total += other.total;
    }

    /// The value at quantile `q` (0..=1), as its bucket's upper bound (at most `max`).
    pub fn quantile(&self, q: f64) -> u64 {
        let target = ((q * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (index, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= target {
                return Self::upper_bound(index).min(self.max);
            }
        }
        self.max
    }

    /// The largest recorded value.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// How many values were recorded.
    pub fn total(&self) -> u64 {
        self.total
    }
}

/// One starvation measurement: every acquisition's wait, and each thread's count.
pub struct LatencySample {
    /// Wait-to-acquire times in ns, all threads merged.
    pub waits: Histogram,
    /// Acquisitions by each thread.
    pub per_thread: Vec<u64>,
    /// From the barrier's release to the stop flag.
    pub elapsed: Duration,
}

/// `threads` threads contending on one `L` (tiny critical section) for `duration`, each timing
/// how long every `lock` call took to return.
pub fn measure_waits<L: Lock>(threads: usize, duration: Duration) -> LatencySample {
    let lock = Padded(L::new(0));
    let (elapsed, histograms, _) = run_for(threads, duration, |_, stop| {
        let mut waits = Histogram::new();
        while stop.running() {
            let start = Instant::now();
            let waited = lock.0.with(|value| {
                // Read the clock inside the critical section: the wait ends when we own it
                // (this adds one clock read, ~20 ns, to every implementation's CS).
                let waited = start.elapsed();
                *value += 1;
                waited
            });
            // Record outside the lock so the histogram update does not lengthen it.
            waits.record(waited.as_nanos() as u64);
        }
        waits
    });
    let mut waits = Histogram::new();
    for thread_waits in &histograms {
        waits.merge(thread_waits);
    }
    LatencySample { waits, per_thread: histograms.iter().map(Histogram::total).collect(), elapsed }
}

/// One implementation in the starvation comparison.
pub struct LatencyContender {
    /// Column name.
    pub name: &'static str,
    /// Measures `threads` threads for `duration`.
    pub run: fn(usize, Duration) -> LatencySample,
}

/// The implementations the starvation figure compares.
pub fn latency_contenders() -> [LatencyContender; 3] {
    [
        LatencyContender { name: "atomsync", run: measure_waits::<atomsync::Mutex<u64>> },
        LatencyContender { name: "std", run: measure_waits::<std::sync::Mutex<u64>> },
        LatencyContender { name: "parking_lot", run: measure_waits::<parking_lot::Mutex<u64>> },
    ]
}

/// Measures and prints the starvation table for each thread count in `threads`.
pub fn print_starvation(threads: &[usize], duration: Duration, runs: usize) {
    let contenders = latency_contenders();
    println!("starvation: wait to acquire a contended Mutex (tiny critical section)");
    println!(
        "each lock() call timed; percentiles over all acquisitions; median of {} x {} ms; \
         `worst max` = largest over the runs",
        runs_text(runs),
        duration.as_millis()
    );
    println!();
    println!(
        "| threads | impl        | M acq/s |      p50 |      p99 |    p99.9 |      max | worst max | min/max ops |"
    );
    println!(
        "|--------:|:------------|--------:|---------:|---------:|---------:|---------:|----------:|------------:|"
    );
    for &thread_count in threads {
        let samples = interleaved(runs, contenders.len(), |index| {
            (contenders[index].run)(thread_count, duration)
        });
        for (contender, samples) in contenders.iter().zip(&samples) {
            print_starvation_row(thread_count, contender.name, samples);
        }
    }
    println!();
}

fn print_starvation_row(thread_count: usize, name: &str, samples: &[LatencySample]) {
    let quantile = |q: f64| median_of(samples, |sample| sample.waits.quantile(q) as f64);
    let rate = median_of(samples, |sample| {
        sample.waits.total() as f64 / sample.elapsed.as_secs_f64() / 1e6
    });
    let max = median_of(samples, |sample| sample.waits.max() as f64);
    let worst = samples.iter().map(|sample| sample.waits.max()).max().unwrap_or(0) as f64;
    let fairness = median_of(samples, |sample| fairness(&sample.per_thread));
    println!(
        "| {thread_count:>7} | {name:<11} | {rate:>7.2} | {:>8} | {:>8} | {:>8} | {:>8} | {:>9} | {fairness:>11.2} |",
        format_ns(quantile(0.50)),
        format_ns(quantile(0.99)),
        format_ns(quantile(0.999)),
        format_ns(max),
        format_ns(worst),
    );
}
