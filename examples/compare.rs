//! Quick contention comparison of atomsync against std and parking_lot.
//!
//! ```text
//! cargo run --release --example compare                       # contended mutex, tiny CS
//! cargo run --release --example compare -- --cs 100ns         # ~100 ns inside, ~200 ns outside
//! cargo run --release --example compare -- --primitive starvation
//! cargo run --release --example compare -- --primitive all --plot docs/img   # charts too
//! cargo run --release --features stats --example compare -- --profile  # + atomsync's counters
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
//! This file holds the command line and the list of comparisons; the harness and the
//! workloads live in `benches/support/`, shared with the criterion benches so that both
//! measure the same code. Adding a primitive: write a function that prints its tables (a
//! throughput comparison is a list of `Contender`s handed to `compare_throughput`, ours first)
//! and add one line to [`PRIMITIVES`].

// The benches' support module, included by path: see its module doc for why.
#[allow(dead_code)]
#[path = "../benches/support/mod.rs"]
mod support;

#[path = "compare/plot.rs"]
mod plot;

#[path = "compare/profile.rs"]
mod profile;

#[path = "compare/machine.rs"]
mod machine;

use plot::Chart;
use profile::{Per, Recorder};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};
use support::condvar::{
    AtomsyncPair, CondvarPair, ParkingLotPair, StdPair, WAITERS, notify_all_rounds, ping_pong,
};
use support::harness::{Sample, cpu_count, interleaved, median, runs_text, time_it};
use support::mutex::{CriticalSection, Work, calibrate_spin_work, mutex_contender};
use support::pool::{PoolCase, Pools, SCOPE_TASKS, pool_workloads};
use support::rwlock::{RWLOCK_MIXES, rwlock_contender};
use support::semaphore::{CondvarSemaphore, semaphore_contender};
use support::table::{Contender, Plan, compare_throughput, format_ns};

// ---------------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------------

/// One entry per `--primitive` value.
struct Primitive {
    /// The `--primitive` value.
    name: &'static str,
    /// One line for `--help`.
    about: &'static str,
    /// Thread counts used when `--threads` is not given.
    default_threads: &'static [usize],
    /// What one run costs, for the estimate printed up front.
    cost: Cost,
    /// Runs the comparison, prints its tables and returns its charts.
    run: fn(&Options) -> Vec<Chart>,
}

/// What one run of a comparison costs, for the estimate printed up front.
#[derive(Clone, Copy)]
enum Cost {
    /// This many timed measurements (of `--duration-ms` each) per thread count.
    Measurements(usize),
    /// About this many seconds per thread count (workloads of a fixed size).
    Seconds(f64),
    /// About this many seconds, whatever the thread counts (workloads of fixed threads).
    Fixed(f64),
}

/// The comparisons this example knows. Later primitives add one line each.
const PRIMITIVES: &[Primitive] = &[
    Primitive {
        name: "mutex",
        about: "contended Mutex throughput and fairness: atomsync vs std vs parking_lot",
        default_threads: &[1, 2, 4, 8, 16],
        cost: Cost::Measurements(3),
        run: compare_mutex,
    },
    Primitive {
        name: "starvation",
        about: "wait-to-acquire latency (p50/p99/p99.9/max) of a contended Mutex, tiny CS",
        default_threads: &[4],
        cost: Cost::Measurements(3),
        run: compare_starvation,
    },
    Primitive {
        name: "rwlock",
        about: "RwLock throughput at 100% / 90% / 50% reads: atomsync vs std vs parking_lot",
        default_threads: &[1, 2, 4, 8, 16],
        cost: Cost::Measurements(3 * RWLOCK_MIXES.len()),
        run: compare_rwlock,
    },
    Primitive {
        name: "semaphore",
        about: "Semaphore of 1 and 4 permits, short hold: atomsync vs Mutex+Condvar vs async-lock",
        default_threads: &[2, 4, 8, 16],
        cost: Cost::Measurements(2 * 3),
        run: compare_semaphore,
    },
    Primitive {
        name: "condvar",
        about: "Condvar ping-pong round trip and notify_all to 32 waiters: atomsync vs std vs parking_lot (--threads is not used)",
        default_threads: &[2],
        // 2 000 round trips of ~15 us and 20 rounds of ~1 ms, three implementations.
        cost: Cost::Fixed(0.15),
        run: compare_condvar,
    },
    Primitive {
        name: "pool",
        about: "ThreadPool: 100k tiny tasks, scopes of 10k and 100k (from outside and installed), fib(30) and fib(32) by join (installed and from outside), 1000 joins from outside: atomsync vs rayon vs threadpool",
        default_threads: &[2],
        // About 2 s per run and pool size on a 2-CPU machine (5 repetitions of the whole
        // list).
        cost: Cost::Seconds(2.0),
        run: compare_pool,
    },
    Primitive {
        name: "machine",
        about: "no lock at all: each CPU's speed, a cache line's trip between two CPUs, and the fairness of threads that never wait (the scheduler's own), to read the other tables by",
        default_threads: &[2, 4],
        // Per thread count two measurements, plus the speeds and the trips once.
        cost: Cost::Measurements(3),
        run: machine::compare_machine,
    },
];

/// Parsed command-line options.
struct Options {
    /// The entries of [`PRIMITIVES`] to run (all of them for `--primitive all`).
    primitives: Vec<&'static Primitive>,
    /// Thread counts to measure, if not each primitive's default.
    threads: Option<Vec<usize>>,
    /// Thread counts, length of one measurement, runs per figure.
    plan: Plan,
    /// The critical-section kind.
    critical_section: CriticalSection,
    /// Where to write one SVG chart per workload, if anywhere.
    plot: Option<PathBuf>,
    /// `--profile`: records atomsync's contention counters (feature `stats`).
    profile: Option<Rc<Recorder>>,
    /// `--only NAME`: measure only that implementation (for `strace`/`perf` of one of them).
    only: Option<String>,
}

const OPTIONS_HELP: &str = "compare: quick contention comparison of atomsync vs std and parking_lot

USAGE:
    cargo run --release --example compare -- [OPTIONS]

OPTIONS:
    --primitive NAME     what to compare (default: mutex; `all`: every one below, in turn)
    --threads LIST       comma-separated thread counts (default: per primitive, mutex: 1,2,4,8,16)
    --duration-ms N      length of one measurement in ms (default: 300)
    --runs N             runs per figure, the median is reported (default: 3)
    --cs KIND            critical section: `tiny` (increment; default) or `<N>ns`
                         (increment + ~N ns of arithmetic inside, ~2N ns outside), e.g. 100ns
    --plot DIR           also write one SVG chart per workload into DIR (created if missing)
    --only NAME          measure only the implementation NAME (a column name, e.g. parking_lot),
                         to look at one of them with strace or perf (mutex, rwlock, semaphore)
    --profile            also print atomsync's contention counters per 1 000 operations (needs
                         the stats feature: cargo run --release --features stats --example ...)
    -h, --help           print this help

PRIMITIVES:
";

fn usage() -> String {
    let mut text = String::from(OPTIONS_HELP);
    for primitive in PRIMITIVES {
        text.push_str(&format!("    {:<20} {}\n", primitive.name, primitive.about));
    }
    text
}

/// A positive number from `text`, or an error naming `flag`.
fn positive<T: std::str::FromStr + PartialOrd + Default>(
    flag: &str,
    text: &str,
) -> Result<T, String> {
    match text.parse::<T>() {
        Ok(value) if value > T::default() => Ok(value),
        _ => Err(format!("bad {flag} `{text}`")),
    }
}

fn parse_threads(list: &str) -> Result<Vec<usize>, String> {
    let parsed: Result<Vec<usize>, _> =
        list.split(',').map(|count| count.trim().parse::<usize>()).collect();
    match parsed {
        Ok(counts) if !counts.is_empty() && !counts.contains(&0) => Ok(counts),
        _ => Err(format!("bad --threads `{list}`: want e.g. 1,2,4")),
    }
}

fn parse_critical_section(text: &str) -> Result<CriticalSection, String> {
    if text == "tiny" {
        return Ok(CriticalSection::Tiny);
    }
    match text.strip_suffix("ns").map(str::parse::<u32>) {
        Some(Ok(ns)) if ns > 0 => Ok(CriticalSection::Work { inside_ns: ns, outside_ns: 2 * ns }),
        _ => Err(format!("bad --cs `{text}`: want `tiny` or e.g. `100ns`")),
    }
}

fn parse_primitives(name: &str) -> Result<Vec<&'static Primitive>, String> {
    if name == "all" {
        return Ok(PRIMITIVES.iter().collect());
    }
    let primitive = PRIMITIVES.iter().find(|primitive| primitive.name == name);
    Ok(vec![primitive.ok_or_else(|| format!("unknown primitive `{name}`"))?])
}

fn parse_options(args: &[String]) -> Result<Option<Options>, String> {
    let mut options = Options {
        primitives: vec![&PRIMITIVES[0]],
        threads: None,
        plan: Plan { threads: Vec::new(), duration: Duration::from_millis(300), runs: 3 },
        critical_section: CriticalSection::Tiny,
        plot: None,
        profile: None,
        only: None,
    };
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if arg == "-h" || arg == "--help" {
            return Ok(None);
        }
        if arg == "--profile" {
            let recorder = Recorder::new().ok_or(profile::NEEDS_FEATURE)?;
            options.profile = Some(Rc::new(recorder));
            continue;
        }
        // Accept both `--flag value` and `--flag=value`.
        let (flag, inline_value) = match arg.split_once('=') {
            Some((flag, value)) => (flag, Some(value.to_string())),
            None => (arg.as_str(), None),
        };
        let value = inline_value
            .or_else(|| rest.next().cloned())
            .ok_or_else(|| format!("{flag} needs a value"));
        match flag {
            "--primitive" => options.primitives = parse_primitives(&value?)?,
            "--threads" => options.threads = Some(parse_threads(&value?)?),
            "--duration-ms" => {
                options.plan.duration = Duration::from_millis(positive(flag, &value?)?)
            }
            "--runs" => options.plan.runs = positive(flag, &value?)?,
            "--cs" => options.critical_section = parse_critical_section(&value?)?,
            "--plot" => options.plot = Some(PathBuf::from(value?)),
            "--only" => options.only = Some(value?),
            _ => return Err(format!("unknown argument `{arg}`")),
        }
    }
    Ok(Some(options))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut options = match parse_options(&args) {
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
    support::machine::print_header("cargo run --release --example compare");
    print_estimate(&options);
    let started = Instant::now();
    for primitive in options.primitives.clone() {
        options.plan.threads =
            options.threads.clone().unwrap_or_else(|| primitive.default_threads.to_vec());
        let charts = (primitive.run)(&options);
        if let Some(dir) = &options.plot {
            plot::write_all(dir, primitive.name, &charts);
        }
    }
    if options.primitives.len() > 1 {
        eprintln!("all done in {:.0} s", started.elapsed().as_secs_f64());
    }
}

/// Prints the total time the run will take, to stderr, before it starts.
fn print_estimate(options: &Options) {
    let seconds: f64 = options
        .primitives
        .iter()
        .map(|primitive| {
            let threads = options.threads.as_deref().unwrap_or(primitive.default_threads).len();
            let runs = (options.plan.runs * threads) as f64;
            match primitive.cost {
                Cost::Measurements(count) => {
                    options.plan.duration.as_secs_f64() * runs * count as f64
                }
                Cost::Seconds(seconds) => seconds * runs,
                Cost::Fixed(seconds) => seconds * options.plan.runs as f64,
            }
        })
        .sum();
    let names: Vec<&str> = options.primitives.iter().map(|primitive| primitive.name).collect();
    eprintln!("compare: {} in about {seconds:.0} s in all", names.join(", "));
}

// ---------------------------------------------------------------------------------------------
// The comparisons
// ---------------------------------------------------------------------------------------------

fn compare_mutex(options: &Options) -> Vec<Chart> {
    let ns_per_iteration = calibrate_spin_work();
    let work = Work::new(options.critical_section, ns_per_iteration);
    if options.critical_section != CriticalSection::Tiny {
        println!(
            "work spin: {:.2} ns/iteration; {} iterations inside, {} outside\n",
            ns_per_iteration, work.inside, work.outside
        );
    }
    let contenders = [
        profiled(mutex_contender::<atomsync::Mutex<u64>>(work), options),
        mutex_contender::<std::sync::Mutex<u64>>(work),
        mutex_contender::<parking_lot::Mutex<u64>>(work),
    ];
    let title = format!("contended Mutex, {}", options.critical_section.describe());
    let figures = compare(&title, contenders, options);
    print_profile(options, &title, &["Mutex"]);
    vec![Chart::throughput(format!("mutex-{}", cs_slug(options.critical_section)), figures)]
}

/// `tiny` or `100ns`, for file names.
fn cs_slug(critical_section: CriticalSection) -> String {
    match critical_section {
        CriticalSection::Tiny => "tiny".to_string(),
        CriticalSection::Work { inside_ns, .. } => format!("{inside_ns}ns"),
    }
}

fn compare_starvation(options: &Options) -> Vec<Chart> {
    if options.critical_section != CriticalSection::Tiny {
        eprintln!("note: the starvation figure always uses the tiny critical section");
    }
    let plan = &options.plan;
    let estimate = plan.duration.as_secs_f64() * (plan.runs * 3 * plan.threads.len()) as f64;
    eprintln!("measuring starvation (about {estimate:.0} s)");
    support::latency::print_starvation(&plan.threads, plan.duration, plan.runs);
    // Percentiles at one thread count make a table, not a chart.
    Vec::new()
}

fn compare_rwlock(options: &Options) -> Vec<Chart> {
    let ns_per_iteration = calibrate_spin_work();
    let work = Work::new(options.critical_section, ns_per_iteration);
    let mut charts = Vec::new();
    for read_percent in RWLOCK_MIXES {
        let contenders = [
            profiled(rwlock_contender::<atomsync::RwLock<u64>>(read_percent, work), options),
            rwlock_contender::<std::sync::RwLock<u64>>(read_percent, work),
            rwlock_contender::<parking_lot::RwLock<u64>>(read_percent, work),
        ];
        let title = format!(
            "RwLock, {read_percent}% reads / {}% writes, {}",
            100 - read_percent,
            options.critical_section.describe()
        );
        let figures = compare(&title, contenders, options);
        print_profile(options, &title, &["RwLock"]);
        let file = format!("rwlock-read{read_percent}-{}", cs_slug(options.critical_section));
        charts.push(Chart::throughput(file, figures));
    }
    charts
}

fn compare_semaphore(options: &Options) -> Vec<Chart> {
    let mut charts = Vec::new();
    for permits in [1, 4] {
        let contenders = [
            profiled(semaphore_contender::<atomsync::Semaphore>(permits), options),
            semaphore_contender::<CondvarSemaphore>(permits),
            semaphore_contender::<async_lock::Semaphore>(permits),
        ];
        let title = format!("Semaphore of {permits} permit(s), acquire + 4 spins held + release");
        let figures = compare(&title, contenders, options);
        print_profile(options, &title, &["Semaphore"]);
        charts.push(Chart::throughput(format!("semaphore-{permits}-permits"), figures));
    }
    charts
}

/// `--primitive pool`: for each `--threads` count, pools of that many workers; each figure is
/// the median of `--runs` × 5 timed repetitions (interleaved between the pools), as a time and
/// as a ratio to atomsync (> 1.00: slower than atomsync). `--duration-ms` is not used.
fn compare_pool(options: &Options) -> Vec<Chart> {
    let workloads = pool_workloads();
    let cases: Vec<Vec<&PoolCase>> = workloads
        .iter()
        .map(|workload| workload.cases.iter().filter(|case| case.compare.is_some()).collect())
        .collect();
    // times[workload][case][thread count], milliseconds.
    let mut times: Vec<Vec<Vec<f64>>> =
        cases.iter().map(|cases| vec![Vec::new(); cases.len()]).collect();
    for &threads in &options.plan.threads {
        let pools = Pools::new(threads);
        println!(
            "\nThreadPool, {threads} workers ({} x 5 repetitions, median)",
            runs_text(options.plan.runs)
        );
        for ((workload, cases), times) in workloads.iter().zip(&cases).zip(&mut times) {
            let samples = interleaved(options.plan.runs * 5, cases.len(), |index| {
                let mut data = vec![0usize; SCOPE_TASKS];
                let name = cases[index].compare.unwrap_or_default();
                let mut run = || time_it(|| (cases[index].run)(&pools, &mut data));
                match &options.profile {
                    // One "operation" per run: the table is per run of the workload.
                    Some(recorder) if name.starts_with("atomsync") => {
                        recorder.measure(name, || (run(), 1))
                    }
                    _ => run(),
                }
            });
            let medians: Vec<f64> =
                samples.into_iter().map(|mut samples| median(&mut samples)).collect();
            println!("  {}", workload.title);
            for ((case, seconds), times) in cases.iter().zip(&medians).zip(times.iter_mut()) {
                let name = case.compare.unwrap_or_default();
                println!(
                    "    {name:<28} {:>9.2} ms   x{:.2} of atomsync",
                    seconds * 1e3,
                    seconds / medians[0]
                );
                times.push(seconds * 1e3);
            }
            // Nothing beats the sequential time shared among all the machine's CPUs (a join
            // from outside uses the calling thread as well as the workers).
            let sequential = cases.iter().position(|case| case.compare == Some("sequential"));
            if let Some(index) = sequential {
                let floor = medians[index] / cpu_count() as f64;
                println!(
                    "    {:<28} {:>9.2} ms   x{:.2} of atomsync",
                    "(floor: sequential / CPUs)",
                    floor * 1e3,
                    floor / medians[0]
                );
            }
            if let Some(recorder) = &options.profile {
                let heading = format!("{threads} workers: {}", workload.title);
                recorder.print(&heading, &["ThreadPool"], Per::One("per run of the workload"));
            }
        }
        eprintln!("  {threads:>3} workers done");
    }
    let charts = workloads.iter().zip(&cases).zip(times).map(|((workload, cases), times)| {
        let names = cases.iter().map(|case| case.compare.unwrap_or_default()).collect();
        Chart::pool(
            workload.group.replace('_', "-"),
            workload.title,
            &options.plan.threads,
            names,
            times,
        )
    });
    charts.collect()
}

/// `--primitive condvar`: the ping-pong round trip and `notify_all` to [`WAITERS`] waiters (the
/// workloads of `benches/condvar.rs`), the three implementations interleaved run by run;
/// `--threads` and `--duration-ms` are not used.
fn compare_condvar(options: &Options) -> Vec<Chart> {
    const ROUND_TRIPS: u64 = 2_000;
    const ROUNDS: u64 = 20;
    /// One implementation: its name and its two workloads.
    type Pair = (&'static str, fn(u64) -> Duration, fn(u64) -> Duration);
    fn pair<P: CondvarPair>() -> Pair {
        (P::NAME, ping_pong::<P>, notify_all_rounds::<P>)
    }
    let pairs = [pair::<AtomsyncPair>(), pair::<StdPair>(), pair::<ParkingLotPair>()];
    let runs = options.plan.runs;
    let ping = "ping-pong".to_string();
    let all = format!("notify_all to {WAITERS} waiters");
    let mut medians: Vec<[f64; 2]> = vec![[0.0; 2]; pairs.len()];
    for (workload, label, count) in [(0, &ping, ROUND_TRIPS), (1, &all, ROUNDS)] {
        let samples = interleaved(runs, pairs.len(), |index| {
            let run = if workload == 0 { pairs[index].1 } else { pairs[index].2 };
            match &options.profile {
                Some(recorder) if index == 0 => recorder.measure(label, || (run(count), count)),
                _ => run(count),
            }
        });
        for (index, samples) in samples.into_iter().enumerate() {
            let mut seconds: Vec<f64> = samples.iter().map(Duration::as_secs_f64).collect();
            medians[index][workload] = median(&mut seconds) / count as f64;
        }
    }
    println!("Condvar, time per round trip / per notify_all round, median of {}", runs_text(runs));
    println!();
    println!("| workload | {} | vs std | vs parking_lot |", pairs.map(|pair| pair.0).join(" | "));
    println!("|---|--:|--:|--:|--:|--:|");
    for (workload, label) in [(0, "ping-pong round trip"), (1, "notify_all round (32 waiters)")] {
        let times: Vec<f64> = medians.iter().map(|by_workload| by_workload[workload]).collect();
        let cells: Vec<String> = times.iter().map(|seconds| format_ns(seconds * 1e9)).collect();
        println!(
            "| {label} | {} | {:.2}x | {:.2}x |",
            cells.join(" | "),
            times[0] / times[1],
            times[0] / times[2]
        );
    }
    println!("\n(ratios are time: below 1.00 atomsync is faster)\n");
    // A waiter's re-locking counts for the mutex, its sleep on the condvar for the condvar.
    if let Some(recorder) = &options.profile {
        let per = Per::One("per round trip (ping-pong) or per round (notify_all)");
        recorder.print("condvar workloads", &["Condvar", "Mutex"], per);
    }
    Vec::new()
}

/// `compare_throughput` of `contenders`, or of the one `--only` names.
fn compare(title: &str, contenders: [Contender; 3], options: &Options) -> support::table::Figures {
    let chosen: Vec<Contender> = match &options.only {
        Some(only) => contenders.into_iter().filter(|contender| contender.name == only).collect(),
        None => contenders.into(),
    };
    if chosen.is_empty() {
        eprintln!(
            "error: --only {}: no implementation of that name here",
            options.only.as_deref().unwrap_or("")
        );
        std::process::exit(2);
    }
    compare_throughput(title, &chosen, &options.plan)
}

/// With `--profile`, `contender` (atomsync's) runs between a reset and a snapshot of the
/// counters, which are summed by thread count.
fn profiled(contender: Contender, options: &Options) -> Contender {
    let Some(recorder) = options.profile.clone() else {
        return contender;
    };
    let Contender { name, run } = contender;
    let run = move |threads: usize, duration: Duration| {
        recorder.measure(&format!("{threads} thr"), || {
            let sample: Sample = run(threads, duration);
            let operations = sample.per_thread.iter().sum();
            (sample, operations)
        })
    };
    Contender { name, run: Box::new(run) }
}

/// With `--profile`, prints the counters of `primitives` recorded since the last table.
fn print_profile(options: &Options, title: &str, primitives: &[&str]) {
    if let Some(recorder) = &options.profile {
        recorder.print(title, primitives, Per::Thousand);
    }
}
