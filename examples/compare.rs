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
    Primitive {
        name: "rwlock",
        about: "RwLock throughput at 100% / 90% / 50% reads: atomsync vs std vs parking_lot",
        default_threads: &[1, 2, 4, 8, 16],
        run: compare_rwlock,
    },
    Primitive {
        name: "semaphore",
        about: "Semaphore of 1 and 4 permits, short hold: atomsync vs Mutex+Condvar vs async-lock",
        default_threads: &[2, 4, 8, 16],
        run: compare_semaphore,
    },
    Primitive {
        name: "pool",
        about: "ThreadPool: 100k tiny tasks, scope of 10k (from outside and installed), fib(30) by join (installed and from outside), 1000 joins from outside: atomsync vs rayon vs threadpool",
        default_threads: &[2],
        run: compare_pool,
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
// RwLock: read/write mixes (shared with benches/rwlock.rs)
// ---------------------------------------------------------------------------------------------

/// A reader-writer lock protecting a `u64`, as the rwlock workloads use it.
pub trait RwLockish: Send + Sync + 'static {
    /// Column name.
    const NAME: &'static str;
    /// A new, unlocked lock holding `value`.
    fn new(value: u64) -> Self;
    /// Read-locks, runs `f` on the value, unlocks.
    fn read<R>(&self, f: impl FnOnce(&u64) -> R) -> R;
    /// Write-locks, runs `f` on the value, unlocks.
    fn write<R>(&self, f: impl FnOnce(&mut u64) -> R) -> R;
}

impl RwLockish for atomsync::RwLock<u64> {
    const NAME: &'static str = "atomsync";
    fn new(value: u64) -> Self {
        atomsync::RwLock::new(value)
    }
    #[inline]
    fn read<R>(&self, f: impl FnOnce(&u64) -> R) -> R {
        f(&self.read())
    }
    #[inline]
    fn write<R>(&self, f: impl FnOnce(&mut u64) -> R) -> R {
        f(&mut self.write())
    }
}

impl RwLockish for std::sync::RwLock<u64> {
    const NAME: &'static str = "std";
    fn new(value: u64) -> Self {
        std::sync::RwLock::new(value)
    }
    #[inline]
    fn read<R>(&self, f: impl FnOnce(&u64) -> R) -> R {
        f(&self.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
    #[inline]
    fn write<R>(&self, f: impl FnOnce(&mut u64) -> R) -> R {
        f(&mut self.write().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

impl RwLockish for parking_lot::RwLock<u64> {
    const NAME: &'static str = "parking_lot";
    fn new(value: u64) -> Self {
        parking_lot::RwLock::new(value)
    }
    #[inline]
    fn read<R>(&self, f: impl FnOnce(&u64) -> R) -> R {
        f(&self.read())
    }
    #[inline]
    fn write<R>(&self, f: impl FnOnce(&mut u64) -> R) -> R {
        f(&mut self.write())
    }
}

/// One rwlock operation: with probability `read_percent`% a read (load the value, `inside`
/// work), else a write (increment, `inside` work); then `outside` work. `rng` is the thread's
/// xorshift state. Returns 1 for a write, 0 for a read.
#[inline]
pub fn rwlock_operation<L: RwLockish>(lock: &L, read_percent: u32, work: Work, rng: &mut u64) -> u64 {
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    let wrote = if (*rng % 100) < u64::from(read_percent) {
        lock.read(|value| {
            black_box(*value);
            if work.inside != 0 {
                spin_work(work.inside);
            }
        });
        0
    } else {
        lock.write(|value| {
            *value += 1;
            if work.inside != 0 {
                spin_work(work.inside);
            }
        });
        1
    };
    if work.outside != 0 {
        spin_work(work.outside);
    }
    wrote
}

/// `threads` threads doing [`rwlock_operation`] on one `L` for `duration`.
pub fn rwlock_contend_for<L: RwLockish>(threads: usize, duration: Duration, read_percent: u32, work: Work) -> Sample {
    let lock = Arc::new(Padded(L::new(0)));
    let stop = Arc::new(Padded(AtomicBool::new(false)));
    let barrier = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|index| {
            let (lock, stop, barrier) = (Arc::clone(&lock), Arc::clone(&stop), Arc::clone(&barrier));
            thread::spawn(move || {
                let mut rng = 0x2545_F491_4F6C_DD1D_u64 ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9);
                let (mut operations, mut writes) = (0_u64, 0_u64);
                barrier.wait();
                // Relaxed: the flag only ends the loop; the counts travel back through `join`.
                while !stop.0.load(Relaxed) {
                    writes += rwlock_operation(&lock.0, read_percent, work, &mut rng);
                    operations += 1;
                }
                (operations, writes)
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    thread::sleep(duration);
    stop.0.store(true, Relaxed);
    let elapsed = start.elapsed();
    let counts: Vec<(u64, u64)> = handles.into_iter().map(|handle| handle.join().expect("worker panicked")).collect();
    // Exclusion check for free: every write must have landed.
    assert_eq!(lock.0.read(|value| *value), counts.iter().map(|count| count.1).sum::<u64>(), "{} lost writes", L::NAME);
    Sample { elapsed, per_thread: counts.iter().map(|count| count.0).collect() }
}

/// A contender running the rwlock mix `read_percent` with `work` on `L`.
pub fn rwlock_contender<L: RwLockish>(read_percent: u32, work: Work) -> Contender {
    Contender {
        name: L::NAME,
        run: Box::new(move |threads, duration| rwlock_contend_for::<L>(threads, duration, read_percent, work)),
    }
}

/// The read percentages of the rwlock comparison.
pub const RWLOCK_MIXES: [u32; 3] = [100, 90, 50];

fn compare_rwlock(options: &Options) {
    let ns_per_iteration = calibrate_spin_work();
    let work = Work::new(options.critical_section, ns_per_iteration);
    for read_percent in RWLOCK_MIXES {
        let contenders = [
            rwlock_contender::<atomsync::RwLock<u64>>(read_percent, work),
            rwlock_contender::<std::sync::RwLock<u64>>(read_percent, work),
            rwlock_contender::<parking_lot::RwLock<u64>>(read_percent, work),
        ];
        let title = format!(
            "RwLock, {read_percent}% reads / {}% writes, {}",
            100 - read_percent,
            options.critical_section.describe()
        );
        compare_throughput(&title, &contenders, options);
    }
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

// ---------------------------------------------------------------------------------------------
// Semaphore: acquire one permit, hold it briefly, release
// ---------------------------------------------------------------------------------------------

/// A counting semaphore, as the semaphore comparison uses it.
pub trait SemaphoreLike: Send + Sync + 'static {
    /// Column name.
    const NAME: &'static str;
    /// A semaphore with `permits` permits.
    fn new(permits: usize) -> Self;
    /// Acquires one permit, runs `f`, releases.
    fn with_permit(&self, f: impl FnOnce());
}

impl SemaphoreLike for atomsync::Semaphore {
    const NAME: &'static str = "atomsync";
    fn new(permits: usize) -> Self {
        atomsync::Semaphore::new(permits)
    }
    fn with_permit(&self, f: impl FnOnce()) {
        let _permit = self.acquire().expect("never closed");
        f();
    }
}

impl SemaphoreLike for async_lock::Semaphore {
    const NAME: &'static str = "async-lock";
    fn new(permits: usize) -> Self {
        async_lock::Semaphore::new(permits)
    }
    fn with_permit(&self, f: impl FnOnce()) {
        let _guard = self.acquire_blocking();
        f();
    }
}

/// The textbook semaphore on std: a count under a `Mutex`, waiters on a `Condvar`.
pub struct CondvarSemaphore {
    permits: std::sync::Mutex<usize>,
    available: std::sync::Condvar,
}

impl SemaphoreLike for CondvarSemaphore {
    const NAME: &'static str = "mutex+condvar";
    fn new(permits: usize) -> Self {
        Self { permits: std::sync::Mutex::new(permits), available: std::sync::Condvar::new() }
    }
    fn with_permit(&self, f: impl FnOnce()) {
        {
            let mut permits = self.permits.lock().unwrap();
            while *permits == 0 {
                permits = self.available.wait(permits).unwrap();
            }
            *permits -= 1;
        }
        f();
        *self.permits.lock().unwrap() += 1;
        self.available.notify_one();
    }
}

/// `spin_loop` hints while holding a permit, and again between operations.
const SEMAPHORE_HOLD_SPINS: u32 = 4;

/// `threads` threads each looping acquire / short hold / release / short pause on one `S` of
/// `permits` for `duration`; checks that at most `permits` threads ever held a permit at once.
pub fn semaphore_contend_for<S: SemaphoreLike>(permits: usize, threads: usize, duration: Duration) -> Sample {
    use std::sync::atomic::AtomicUsize;
    let semaphore = Arc::new(Padded(S::new(permits)));
    let holders = Arc::new(Padded(AtomicUsize::new(0)));
    let stop = Arc::new(Padded(AtomicBool::new(false)));
    let barrier = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (semaphore, holders, stop, barrier) =
                (Arc::clone(&semaphore), Arc::clone(&holders), Arc::clone(&stop), Arc::clone(&barrier));
            thread::spawn(move || {
                let mut operations = 0_u64;
                barrier.wait();
                // Relaxed: the flag only ends the loop; the counts travel back through `join`.
                while !stop.0.load(Relaxed) {
                    semaphore.0.with_permit(|| {
                        // Relaxed: a sanity count; the semaphore orders the holders.
                        let now = holders.0.fetch_add(1, Relaxed);
                        assert!(now < permits, "{} let {} holders in", S::NAME, now + 1);
                        for _ in 0..SEMAPHORE_HOLD_SPINS {
                            std::hint::spin_loop();
                        }
                        holders.0.fetch_sub(1, Relaxed);
                    });
                    for _ in 0..SEMAPHORE_HOLD_SPINS {
                        std::hint::spin_loop();
                    }
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
    let per_thread = handles.into_iter().map(|handle| handle.join().expect("worker panicked")).collect();
    Sample { elapsed, per_thread }
}

/// A contender running the semaphore workload with `permits` permits on `S`.
pub fn semaphore_contender<S: SemaphoreLike>(permits: usize) -> Contender {
    Contender {
        name: S::NAME,
        run: Box::new(move |threads, duration| semaphore_contend_for::<S>(permits, threads, duration)),
    }
}

fn compare_semaphore(options: &Options) {
    for permits in [1, 4] {
        let contenders = [
            semaphore_contender::<atomsync::Semaphore>(permits),
            semaphore_contender::<CondvarSemaphore>(permits),
            semaphore_contender::<async_lock::Semaphore>(permits),
        ];
        let title = format!("Semaphore of {permits} permit(s), acquire + 4 spins held + release");
        compare_throughput(&title, &contenders, options);
    }
}

// ---------------------------------------------------------------------------------------------
// ThreadPool: task throughput, scope, fork-join
// ---------------------------------------------------------------------------------------------

/// One pool workload, timed once: `(name of the pool, seconds)`.
type PoolWorkload = Box<dyn Fn() -> f64>;

fn time_it(f: impl FnOnce()) -> f64 {
    let start = Instant::now();
    f();
    start.elapsed().as_secs_f64()
}

/// Joins per repetition of the join-from-outside workload.
const OUTSIDE_JOINS: usize = 1_000;

/// `n` tiny operations (about 1 ns each): one half of a join from outside.
fn pool_work(n: usize) -> usize {
    (0..n).fold(0, |sum, i| sum.wrapping_add(black_box(i).wrapping_mul(31)))
}

fn pool_fib_sequential(n: u32) -> u64 {
    if n < 2 { n.into() } else { pool_fib_sequential(n - 1) + pool_fib_sequential(n - 2) }
}

fn pool_fib_atomsync(pool: &atomsync::ThreadPool, n: u32) -> u64 {
    if n < 18 {
        return pool_fib_sequential(n);
    }
    let (a, b) = pool.join(|| pool_fib_atomsync(pool, n - 1), || pool_fib_atomsync(pool, n - 2));
    a + b
}

fn pool_fib_rayon(n: u32) -> u64 {
    if n < 18 {
        return pool_fib_sequential(n);
    }
    let (a, b) = rayon::join(|| pool_fib_rayon(n - 1), || pool_fib_rayon(n - 2));
    a + b
}

/// `--primitive pool`: for each `--threads` count, pools of that many workers; each figure is
/// the median of `--runs` × 5 timed repetitions (interleaved between the pools), as a time and
/// as a ratio to atomsync (> 1.00: slower than atomsync). `--duration-ms` is not used.
fn compare_pool(options: &Options) {
    use std::sync::atomic::{AtomicUsize, Ordering::AcqRel};
    const TASKS: usize = 100_000;
    const SCOPE_TASKS: usize = 10_000;
    let tiny = |i: usize| black_box(i).wrapping_mul(31).wrapping_add(7);
    for &threads in &options.threads {
        let ours = Arc::new(atomsync::ThreadPool::new(threads));
        let rayon_pool =
            Arc::new(rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap());
        let threadpool_pool = threadpool::ThreadPool::new(threads);
        let workloads: Vec<(&str, Vec<(&str, PoolWorkload)>)> = vec![
            ("100k tiny tasks, submit + wait for all", vec![
                ("atomsync spawn+join", {
                    let pool = Arc::clone(&ours);
                    Box::new(move || time_it(|| {
                        let handles: Vec<_> = (0..TASKS).map(|i| pool.spawn(move || tiny(i))).collect();
                        handles.into_iter().for_each(|h| { black_box(h.join().unwrap()); });
                    }))
                }),
                ("atomsync execute+wait_idle", {
                    let pool = Arc::clone(&ours);
                    Box::new(move || time_it(|| {
                        (0..TASKS).for_each(|i| pool.execute(move || { tiny(i); }));
                        pool.wait_idle();
                    }))
                }),
                ("rayon spawn+latch", {
                    let pool = Arc::clone(&rayon_pool);
                    Box::new(move || time_it(|| {
                        let remaining = Arc::new(AtomicUsize::new(TASKS));
                        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
                        for i in 0..TASKS {
                            let (remaining, done_tx) = (Arc::clone(&remaining), done_tx.clone());
                            pool.spawn(move || {
                                tiny(i);
                                if remaining.fetch_sub(1, AcqRel) == 1 {
                                    done_tx.send(()).unwrap();
                                }
                            });
                        }
                        done_rx.recv().unwrap();
                    }))
                }),
                ("threadpool execute+join", {
                    let pool = threadpool_pool.clone();
                    Box::new(move || time_it(|| {
                        (0..TASKS).for_each(|i| pool.execute(move || { tiny(i); }));
                        pool.join();
                    }))
                }),
            ]),
            ("scope of 10k tiny tasks writing a borrowed Vec", vec![
                ("atomsync scope", {
                    let pool = Arc::clone(&ours);
                    Box::new(move || {
                        let mut data = vec![0usize; SCOPE_TASKS];
                        time_it(|| pool.scope(|s| {
                            for (i, x) in data.iter_mut().enumerate() {
                                s.spawn(move || *x = tiny(i));
                            }
                        }))
                    })
                }),
                ("atomsync install+scope", {
                    let pool = Arc::clone(&ours);
                    Box::new(move || {
                        let mut data = vec![0usize; SCOPE_TASKS];
                        let pool = &*pool;
                        let data = &mut data;
                        time_it(|| pool.install(move || pool.scope(|s| {
                            for (i, x) in data.iter_mut().enumerate() {
                                s.spawn(move || *x = tiny(i));
                            }
                        })))
                    })
                }),
                ("rayon scope", {
                    let pool = Arc::clone(&rayon_pool);
                    Box::new(move || {
                        let mut data = vec![0usize; SCOPE_TASKS];
                        time_it(|| pool.scope(|s| {
                            for (i, x) in data.iter_mut().enumerate() {
                                s.spawn(move |_| *x = tiny(i));
                            }
                        }))
                    })
                }),
            ]),
            ("fib(30) by recursive join, sequential below 18", vec![
                ("atomsync install+join", {
                    let pool = Arc::clone(&ours);
                    Box::new(move || time_it(|| {
                        let pool = &*pool;
                        black_box(pool.install(|| pool_fib_atomsync(pool, black_box(30))));
                    }))
                }),
                // `join` called from outside the pool runs `a` (here: the whole recursion's
                // left spine) on the caller, and offers `b` to the workers.
                ("atomsync join from outside", {
                    let pool = Arc::clone(&ours);
                    Box::new(move || time_it(|| {
                        let pool = &*pool;
                        black_box(pool.join(|| pool_fib_atomsync(pool, black_box(30)), || ()));
                    }))
                }),
                ("rayon install+join", {
                    let pool = Arc::clone(&rayon_pool);
                    Box::new(move || time_it(|| { black_box(pool.install(|| pool_fib_rayon(black_box(30)))); }))
                }),
                ("rayon join from outside", {
                    let pool = Arc::clone(&rayon_pool);
                    Box::new(move || time_it(|| {
                        black_box(pool.join(|| pool_fib_rayon(black_box(30)), || ()));
                    }))
                }),
                ("sequential", Box::new(|| time_it(|| { black_box(pool_fib_sequential(black_box(30))); }))),
            ]),
            ("1000 joins from outside the pool, two halves of ~2k tiny ops", vec![
                ("atomsync join", {
                    let pool = Arc::clone(&ours);
                    Box::new(move || time_it(|| {
                        for _ in 0..OUTSIDE_JOINS {
                            black_box(pool.join(|| pool_work(2_000), || pool_work(2_000)));
                        }
                    }))
                }),
                ("rayon join", {
                    let pool = Arc::clone(&rayon_pool);
                    Box::new(move || time_it(|| {
                        for _ in 0..OUTSIDE_JOINS {
                            black_box(pool.join(|| pool_work(2_000), || pool_work(2_000)));
                        }
                    }))
                }),
                ("sequential", Box::new(|| time_it(|| {
                    for _ in 0..OUTSIDE_JOINS {
                        black_box((pool_work(2_000), pool_work(2_000)));
                    }
                }))),
            ]),
        ];
        println!("\nThreadPool, {threads} workers ({} x 5 repetitions, median)", runs_text(options.runs));
        for (title, contenders) in &workloads {
            let mut times = vec![Vec::new(); contenders.len()];
            for repetition in 0..options.runs * 5 {
                for offset in 0..contenders.len() {
                    let index = (repetition + offset) % contenders.len();
                    times[index].push((contenders[index].1)());
                }
            }
            let medians: Vec<f64> = times.iter_mut().map(|t| median(t)).collect();
            println!("  {title}");
            for ((name, _), seconds) in contenders.iter().zip(&medians) {
                println!("    {name:<28} {:>9.2} ms   x{:.2} of atomsync", seconds * 1e3, seconds / medians[0]);
            }
        }
    }
}
