//! Quick contention comparison of atomsync against std and parking_lot.
//!
//! ```text
//! cargo run --release --example compare                       # contended mutex, tiny CS
//! cargo run --release --example compare -- --cs 100ns         # ~100 ns inside, ~200 ns outside
//! cargo run --release --example compare -- --primitive starvation
//! cargo run --release --example compare -- --help
//! ```
//!
//! Method: every measurement spawns its threads, releases them together from a `Barrier`, lets
//! them run for `--duration-ms`, then stops them with an `AtomicBool`. Each thread counts its
//! operations locally; the total divided by the elapsed time is the throughput, and the
//! per-thread counts give the fairness figure (min/max: 1.00 means equal shares). Each figure
//! is the median of `--runs` runs, and the implementations are interleaved run by run (in a
//! rotating order) so that noise from the rest of the machine hits all of them alike.
//!
//! Adding a primitive: write a function that prints its tables and add one line to
//! [`PRIMITIVES`]; a throughput comparison is a list of [`Contender`]s handed to
//! [`compare_throughput`], whose first entry is ours and the rest are baselines.
//!
//! `benches/mutex.rs` includes this file as a module to reuse the workload definitions
//! ([`Lock`], [`Work`]) and the starvation measurement, so keep those items `pub`.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

// ---------------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------------

/// One entry per `--primitive` value.
pub struct Primitive {
    /// The `--primitive` value.
    pub name: &'static str,
    /// One line for `--help`.
    pub about: &'static str,
    /// Thread counts used when `--threads` is not given.
    pub default_threads: &'static [usize],
    /// Runs the comparison and prints its tables.
    pub run: fn(&Options),
}

/// The comparisons this example knows. Later primitives add one line each.
pub const PRIMITIVES: &[Primitive] = &[
    Primitive {
        name: "mutex",
        about: "contended Mutex throughput and fairness: atomsync vs std vs parking_lot",
        default_threads: &[1, 2, 4, 8, 16],
        run: compare_mutex,
    },
    Primitive {
        name: "starvation",
        about: "wait-to-acquire latency (p50/p99/p99.9/max) of a contended Mutex, tiny CS",
        default_threads: &[4],
        run: compare_starvation,
    },
];

/// Parsed command-line options.
pub struct Options {
    /// Which entry of [`PRIMITIVES`] to run.
    pub primitive: &'static Primitive,
    /// Thread counts to measure.
    pub threads: Vec<usize>,
    /// Length of one measurement.
    pub duration: Duration,
    /// Runs per figure; the median is reported.
    pub runs: usize,
    /// The critical-section kind.
    pub critical_section: CriticalSection,
}

/// What a thread does while holding the lock (and between acquisitions).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum CriticalSection {
    /// Increment the protected counter; nothing outside.
    Tiny,
    /// Increment plus about `inside` ns of arithmetic under the lock, `outside` ns after it.
    Work { inside_ns: u32, outside_ns: u32 },
}

impl CriticalSection {
    fn describe(self) -> String {
        match self {
            Self::Tiny => "tiny critical section (lock; counter += 1; unlock)".to_string(),
            Self::Work {
                inside_ns,
                outside_ns,
            } => format!(
                "~{inside_ns} ns critical section (counter += 1 and arithmetic), ~{outside_ns} ns of work outside"
            ),
        }
    }
}

fn usage() -> String {
    let mut text = String::from(
        "compare: quick contention comparison of atomsync vs std and parking_lot

USAGE:
    cargo run --release --example compare -- [OPTIONS]

OPTIONS:
    --primitive NAME     what to compare (default: mutex)
    --threads LIST       comma-separated thread counts (default: per primitive, mutex: 1,2,4,8,16)
    --duration-ms N      length of one measurement in ms (default: 300)
    --runs N             runs per figure, the median is reported (default: 3)
    --cs KIND            critical section: `tiny` (increment; default) or `<N>ns`
                         (increment + ~N ns of arithmetic inside, ~2N ns outside), e.g. 100ns
    -h, --help           print this help

PRIMITIVES:
",
    );
    for primitive in PRIMITIVES {
        text.push_str(&format!("    {:<20} {}\n", primitive.name, primitive.about));
    }
    text
}

fn parse_options(args: &[String]) -> Result<Option<Options>, String> {
    let mut primitive = &PRIMITIVES[0];
    let mut threads = None;
    let mut duration = Duration::from_millis(300);
    let mut runs = 3;
    let mut critical_section = CriticalSection::Tiny;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if arg == "-h" || arg == "--help" {
            return Ok(None);
        }
        // Accept both `--flag value` and `--flag=value`.
        let (flag, inline_value) = match arg.split_once('=') {
            Some((flag, value)) => (flag, Some(value.to_string())),
            None => (arg.as_str(), None),
        };
        let mut value = || {
            inline_value
                .clone()
                .or_else(|| rest.next().cloned())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag {
            "--primitive" => {
                let name = value()?;
                primitive = PRIMITIVES
                    .iter()
                    .find(|primitive| primitive.name == name)
                    .ok_or_else(|| format!("unknown primitive `{name}`"))?;
            }
            "--threads" => {
                let list = value()?;
                let parsed: Result<Vec<usize>, _> = list
                    .split(',')
                    .map(|count| count.trim().parse::<usize>())
                    .collect();
                match parsed {
                    Ok(counts) if !counts.is_empty() && !counts.contains(&0) => {
                        threads = Some(counts)
                    }
                    _ => return Err(format!("bad --threads `{list}`: want e.g. 1,2,4")),
                }
            }
            "--duration-ms" => {
                let text = value()?;
                match text.parse::<u64>() {
                    Ok(ms) if ms > 0 => duration = Duration::from_millis(ms),
                    _ => return Err(format!("bad --duration-ms `{text}`")),
                }
            }
            "--runs" => {
                let text = value()?;
                match text.parse::<usize>() {
                    Ok(count) if count > 0 => runs = count,
                    _ => return Err(format!("bad --runs `{text}`")),
                }
            }
            "--cs" => {
                let text = value()?;
                critical_section = if text == "tiny" {
                    CriticalSection::Tiny
                } else {
                    match text.strip_suffix("ns").map(str::parse::<u32>) {
                        Some(Ok(ns)) if ns > 0 => CriticalSection::Work {
                            inside_ns: ns,
                            outside_ns: 2 * ns,
                        },
                        _ => return Err(format!("bad --cs `{text}`: want `tiny` or e.g. `100ns`")),
                    }
                };
            }
            _ => return Err(format!("unknown argument `{arg}`")),
        }
    }
    let threads = threads.unwrap_or_else(|| primitive.default_threads.to_vec());
    Ok(Some(Options {
        primitive,
        threads,
        duration,
        runs,
        critical_section,
    }))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse_options(&args) {
        Ok(Some(options)) => options,
        Ok(None) => {
            print!("{}", usage());
            return;
        }
        Err(message) => {
            eprintln!("error: {message}\n\n{}", usage());
            std::process::exit(2);
        }
    };
    print_header();
    (options.primitive.run)(&options);
}

// ---------------------------------------------------------------------------------------------
// Machine description
// ---------------------------------------------------------------------------------------------

/// Prints the date, command line, CPU and load, so the output can be pasted into docs as is.
pub fn print_header() {
    let command: Vec<String> = std::env::args().skip(1).collect();
    println!("date:     {}", utc_now());
    println!(
        "command:  cargo run --release --example compare{}{}",
        if command.is_empty() { "" } else { " -- " },
        command.join(" ")
    );
    println!(
        "machine:  {} CPUs (available_parallelism), {}",
        cpu_count(),
        cpu_model()
    );
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        let load: Vec<&str> = load.split_whitespace().take(3).collect();
        println!("load:     {} (1/5/15 min, at start)", load.join(" "));
    }
    if cfg!(debug_assertions) {
        println!("WARNING:  debug build; run with --release for meaningful figures");
    }
    println!();
}

fn cpu_count() -> usize {
    thread::available_parallelism().map_or(1, |count| count.get())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string())
}

/// The current UTC time as `YYYY-MM-DD HH:MM UTC` (no date crate: civil-from-days by hand).
fn utc_now() -> String {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let (days, second_of_day) = ((seconds / 86_400) as i64, seconds % 86_400);
    // Howard Hinnant's `civil_from_days`.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        second_of_day / 3600,
        second_of_day % 3600 / 60
    )
}

// ---------------------------------------------------------------------------------------------
// Workload definitions (shared with benches/mutex.rs)
// ---------------------------------------------------------------------------------------------

/// A mutex protecting a `u64`, as the workloads use it.
pub trait Lock: Send + Sync + 'static {
    /// Column name.
    const NAME: &'static str;
    /// A new, unlocked mutex holding `value`.
    fn new(value: u64) -> Self;
    /// Locks, runs `f` on the protected value, unlocks.
    fn with<R>(&self, f: impl FnOnce(&mut u64) -> R) -> R;
}

impl Lock for atomsync::Mutex<u64> {
    const NAME: &'static str = "atomsync";
    fn new(value: u64) -> Self {
        atomsync::Mutex::new(value)
    }
    #[inline]
    fn with<R>(&self, f: impl FnOnce(&mut u64) -> R) -> R {
        f(&mut self.lock())
    }
}

impl Lock for std::sync::Mutex<u64> {
    const NAME: &'static str = "std";
    fn new(value: u64) -> Self {
        std::sync::Mutex::new(value)
    }
    #[inline]
    fn with<R>(&self, f: impl FnOnce(&mut u64) -> R) -> R {
        f(&mut self
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

impl Lock for parking_lot::Mutex<u64> {
    const NAME: &'static str = "parking_lot";
    fn new(value: u64) -> Self {
        parking_lot::Mutex::new(value)
    }
    #[inline]
    fn with<R>(&self, f: impl FnOnce(&mut u64) -> R) -> R {
        f(&mut self.lock())
    }
}

impl Lock for spin::Mutex<u64> {
    const NAME: &'static str = "spin";
    fn new(value: u64) -> Self {
        spin::Mutex::new(value)
    }
    #[inline]
    fn with<R>(&self, f: impl FnOnce(&mut u64) -> R) -> R {
        f(&mut self.lock())
    }
}

/// Keeps the lock on its own cache lines, away from the stop flag and the thread handles.
#[repr(align(128))]
pub struct Padded<T>(pub T);

/// The per-operation work, in iterations of [`spin_work`] (0 = none).
#[derive(Clone, Copy, Debug, Default)]
pub struct Work {
    /// Iterations under the lock (after the increment).
    pub inside: u32,
    /// Iterations after unlocking, before the next lock.
    pub outside: u32,
}

impl Work {
    /// The work for `critical_section`, using the calibration `ns_per_iteration`.
    pub fn new(critical_section: CriticalSection, ns_per_iteration: f64) -> Work {
        let iterations = |ns: u32| ((f64::from(ns) / ns_per_iteration).round() as u32).max(1);
        match critical_section {
            CriticalSection::Tiny => Work::default(),
            CriticalSection::Work {
                inside_ns,
                outside_ns,
            } => Work {
                inside: iterations(inside_ns),
                outside: iterations(outside_ns),
            },
        }
    }

    /// One operation: lock, increment, `inside` work, unlock, `outside` work.
    #[inline]
    pub fn operation<L: Lock>(self, lock: &L) {
        lock.with(|value| {
            *value += 1;
            if self.inside != 0 {
                spin_work(self.inside);
            }
        });
        if self.outside != 0 {
            spin_work(self.outside);
        }
    }
}

/// A chain of dependent multiply-adds the optimizer cannot remove or shorten.
#[inline(never)]
pub fn spin_work(iterations: u32) {
    let mut x = black_box(0x9E37_79B9_7F4A_7C15_u64);
    for _ in 0..iterations {
        x = black_box(
            x.wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407),
        );
    }
    black_box(x);
}

/// Nanoseconds per iteration of [`spin_work`]: the fastest of many short timed batches (short,
/// so that some batches run without being preempted on a busy machine).
pub fn calibrate_spin_work() -> f64 {
    const ITERATIONS: u32 = 10_000;
    let mut best = f64::INFINITY;
    for _ in 0..300 {
        let start = Instant::now();
        spin_work(ITERATIONS);
        best = best.min(start.elapsed().as_nanos() as f64 / f64::from(ITERATIONS));
    }
    best
}

// ---------------------------------------------------------------------------------------------
// Throughput measurement
// ---------------------------------------------------------------------------------------------

/// One measurement: elapsed time and each thread's operation count.
#[derive(Clone, Debug)]
pub struct Sample {
    /// From the barrier's release to the stop flag.
    pub elapsed: Duration,
    /// Operations completed by each thread.
    pub per_thread: Vec<u64>,
}

impl Sample {
    /// Total operations per second.
    pub fn ops_per_second(&self) -> f64 {
        self.per_thread.iter().sum::<u64>() as f64 / self.elapsed.as_secs_f64()
    }

    /// The least-served thread's count over the best-served thread's (1.0 = equal shares).
    pub fn fairness(&self) -> f64 {
        let min = self.per_thread.iter().copied().min().unwrap_or(0);
        let max = self.per_thread.iter().copied().max().unwrap_or(0);
        if max == 0 {
            1.0
        } else {
            min as f64 / max as f64
        }
    }
}

/// `threads` threads doing `work.operation` on one `L` for `duration`.
pub fn contend_for<L: Lock>(threads: usize, duration: Duration, work: Work) -> Sample {
    let lock = Arc::new(Padded(L::new(0)));
    let stop = Arc::new(Padded(AtomicBool::new(false)));
    let barrier = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (lock, stop, barrier) =
                (Arc::clone(&lock), Arc::clone(&stop), Arc::clone(&barrier));
            thread::spawn(move || {
                let mut operations = 0_u64;
                barrier.wait();
                // Relaxed: the flag only ends the loop; the counts travel back through `join`.
                while !stop.0.load(Relaxed) {
                    work.operation(&lock.0);
                    operations += 1;
                }
                operations
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    thread::sleep(duration);
    stop.0.store(true, Relaxed);
    let elapsed = start.elapsed();
    let per_thread: Vec<u64> = handles
        .into_iter()
        .map(|handle| handle.join().expect("worker panicked"))
        .collect();
    // Mutual exclusion check for free: every increment must have landed.
    assert_eq!(
        lock.0.with(|value| *value),
        per_thread.iter().sum::<u64>(),
        "{} lost increments",
        L::NAME
    );
    Sample {
        elapsed,
        per_thread,
    }
}

/// One implementation in a throughput comparison.
pub struct Contender {
    /// Column name.
    pub name: &'static str,
    /// Measures `threads` threads for `duration`.
    pub run: Box<dyn Fn(usize, Duration) -> Sample>,
}

/// A contender running the mutex workload `work` on `L`.
pub fn mutex_contender<L: Lock>(work: Work) -> Contender {
    Contender {
        name: L::NAME,
        run: Box::new(move |threads, duration| contend_for::<L>(threads, duration, work)),
    }
}

fn runs_text(runs: usize) -> String {
    if runs == 1 {
        "1 run".to_string()
    } else {
        format!("{runs} runs")
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]) / 2.0
    }
}

/// Measures every contender at every thread count, `runs` times, interleaved; prints the
/// throughput table (with the ratio of the first contender to each of the others and to the
/// best of them) and the fairness table.
pub fn compare_throughput(title: &str, contenders: &[Contender], options: &Options) {
    let estimate = options.duration.as_secs_f64()
        * (options.runs * contenders.len() * options.threads.len()) as f64;
    eprintln!("measuring {title} (about {estimate:.0} s)");

    // results[t][c] = the samples of contender c at thread count t.
    let mut results: Vec<Vec<Vec<Sample>>> = Vec::new();
    for &threads in &options.threads {
        let mut per_contender: Vec<Vec<Sample>> = vec![Vec::new(); contenders.len()];
        for run in 0..options.runs {
            // Rotate the order so no implementation always goes first (or right after another).
            for offset in 0..contenders.len() {
                let index = (run + offset) % contenders.len();
                per_contender[index].push((contenders[index].run)(threads, options.duration));
            }
        }
        eprintln!("  {threads:>3} threads done");
        results.push(per_contender);
    }

    let ours = contenders[0].name;
    let baselines = &contenders[1..];
    println!("{title}");
    println!(
        "ops/s in millions, median of {} x {} ms; ratios are {ours} / baseline (pl = parking_lot)",
        runs_text(options.runs),
        options.duration.as_millis()
    );
    println!();

    let mut header = format!("| threads | {:>11} |", ours);
    for baseline in baselines {
        header.push_str(&format!(" {:>11} |", baseline.name));
    }
    for baseline in baselines {
        header.push_str(&format!(" {:>14} |", format!("vs {}", baseline.name)));
    }
    header.push_str(&format!(" {:>14} |", "vs best"));
    println!("{header}");
    println!("{}", separator(&header));
    for (thread_index, &threads) in options.threads.iter().enumerate() {
        let medians: Vec<f64> = results[thread_index]
            .iter()
            .map(|samples| {
                median(
                    &mut samples
                        .iter()
                        .map(Sample::ops_per_second)
                        .collect::<Vec<_>>(),
                )
            })
            .collect();
        let mut row = format!("| {threads:>7} |");
        for value in &medians {
            row.push_str(&format!(" {:>11.2} |", value / 1e6));
        }
        for value in &medians[1..] {
            row.push_str(&format!(" {:>13.2}x |", medians[0] / value));
        }
        let (best_index, best) = medians[1..]
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or((0, f64::NAN), |(index, value)| (index, *value));
        let best_name = baselines
            .get(best_index)
            .map_or("-", |baseline| baseline.name);
        row.push_str(&format!(
            " {:>14} |",
            format!("{:.2}x {}", medians[0] / best, short(best_name))
        ));
        println!("{row}");
    }
    println!();

    println!("fairness: per-thread ops, min/max (1.00 = equal shares), median of runs");
    println!();
    let mut header = String::from("| threads |");
    for contender in contenders {
        header.push_str(&format!(" {:>11} |", contender.name));
    }
    println!("{header}");
    println!("{}", separator(&header));
    for (thread_index, &threads) in options.threads.iter().enumerate() {
        let mut row = format!("| {threads:>7} |");
        for samples in &results[thread_index] {
            let fairness = median(&mut samples.iter().map(Sample::fairness).collect::<Vec<_>>());
            row.push_str(&format!(" {fairness:>11.2} |"));
        }
        println!("{row}");
    }
    println!();
}

/// A Markdown separator row matching `header`'s columns.
fn separator(header: &str) -> String {
    header
        .split('|')
        .map(|cell| {
            if cell.is_empty() {
                String::new()
            } else {
                format!("-{}:", "-".repeat(cell.len() - 2))
            }
        })
        .collect::<Vec<_>>()
        .join("|")
}

/// Abbreviation for the "vs best" column.
fn short(name: &str) -> &str {
    match name {
        "parking_lot" => "pl",
        other => other,
    }
}

fn compare_mutex(options: &Options) {
    let ns_per_iteration = calibrate_spin_work();
    let work = Work::new(options.critical_section, ns_per_iteration);
    if options.critical_section != CriticalSection::Tiny {
        println!(
            "work spin: {:.2} ns/iteration; {} iterations inside, {} outside\n",
            ns_per_iteration, work.inside, work.outside
        );
    }
    let contenders = [
        mutex_contender::<atomsync::Mutex<u64>>(work),
        mutex_contender::<std::sync::Mutex<u64>>(work),
        mutex_contender::<parking_lot::Mutex<u64>>(work),
    ];
    let title = format!("contended Mutex, {}", options.critical_section.describe());
    compare_throughput(&title, &contenders, options);
}

// ---------------------------------------------------------------------------------------------
// Starvation: wait-to-acquire latency
// ---------------------------------------------------------------------------------------------

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
        Histogram {
            counts: vec![0; 64 * SUB_BUCKETS as usize],
            max: 0,
            total: 0,
        }
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
    let lock = Arc::new(Padded(L::new(0)));
    let stop = Arc::new(Padded(AtomicBool::new(false)));
    let barrier = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (lock, stop, barrier) =
                (Arc::clone(&lock), Arc::clone(&stop), Arc::clone(&barrier));
            thread::spawn(move || {
                let mut waits = Histogram::new();
                barrier.wait();
                // Relaxed: the flag only ends the loop; results travel back through `join`.
                while !stop.0.load(Relaxed) {
                    let start = Instant::now();
                    let waited = lock.0.with(|value| {
                        // Read the clock inside the critical section: the wait ends when we own
                        // it (this adds one clock read, ~20 ns, to every implementation's CS).
                        let waited = start.elapsed();
                        *value += 1;
                        waited
                    });
                    // Record outside the lock so the histogram update does not lengthen it.
                    waits.record(waited.as_nanos() as u64);
                }
                waits
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    thread::sleep(duration);
    stop.0.store(true, Relaxed);
    let elapsed = start.elapsed();
    let mut waits = Histogram::new();
    let mut per_thread = Vec::with_capacity(threads);
    for handle in handles {
        let thread_waits = handle.join().expect("worker panicked");
        per_thread.push(thread_waits.total());
        waits.merge(&thread_waits);
    }
    LatencySample {
        waits,
        per_thread,
        elapsed,
    }
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
        LatencyContender {
            name: "atomsync",
            run: measure_waits::<atomsync::Mutex<u64>>,
        },
        LatencyContender {
            name: "std",
            run: measure_waits::<std::sync::Mutex<u64>>,
        },
        LatencyContender {
            name: "parking_lot",
            run: measure_waits::<parking_lot::Mutex<u64>>,
        },
    ]
}

fn format_ns(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.1} us", ns / 1e3)
    } else {
        format!("{:.2} ms", ns / 1e6)
    }
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
        let mut samples: Vec<Vec<LatencySample>> =
            (0..contenders.len()).map(|_| Vec::new()).collect();
        for run in 0..runs {
            for offset in 0..contenders.len() {
                let index = (run + offset) % contenders.len();
                samples[index].push((contenders[index].run)(thread_count, duration));
            }
        }
        for (contender, samples) in contenders.iter().zip(&samples) {
            let figure = |f: &dyn Fn(&LatencySample) -> f64| {
                median(&mut samples.iter().map(f).collect::<Vec<_>>())
            };
            let rate =
                figure(&|sample| sample.waits.total() as f64 / sample.elapsed.as_secs_f64() / 1e6);
            let p50 = figure(&|sample| sample.waits.quantile(0.50) as f64);
            let p99 = figure(&|sample| sample.waits.quantile(0.99) as f64);
            let p999 = figure(&|sample| sample.waits.quantile(0.999) as f64);
            let max = figure(&|sample| sample.waits.max() as f64);
            let worst = samples
                .iter()
                .map(|sample| sample.waits.max())
                .max()
                .unwrap_or(0) as f64;
            let fairness = figure(&|sample| {
                Sample {
                    elapsed: sample.elapsed,
                    per_thread: sample.per_thread.clone(),
                }
                .fairness()
            });
            println!(
                "| {thread_count:>7} | {:<11} | {rate:>7.2} | {:>8} | {:>8} | {:>8} | {:>8} | {:>9} | {fairness:>11.2} |",
                contender.name,
                format_ns(p50),
                format_ns(p99),
                format_ns(p999),
                format_ns(max),
                format_ns(worst),
            );
        }
    }
    println!();
}

fn compare_starvation(options: &Options) {
    if options.critical_section != CriticalSection::Tiny {
        eprintln!("note: the starvation figure always uses the tiny critical section");
    }
    let estimate =
        options.duration.as_secs_f64() * (options.runs * 3 * options.threads.len()) as f64;
    eprintln!("measuring starvation (about {estimate:.0} s)");
    print_starvation(&options.threads, options.duration, options.runs);
}
