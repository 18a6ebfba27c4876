//! Throughput comparisons: every implementation at every thread count, interleaved run by
//! run, printed as a throughput table (with ratios of the first implementation to the others)
//! and a fairness table, and kept as [`Figures`] for charts.

use super::harness::{Sample, cpu_count, interleaved, median_of, runs_text};
use std::time::Duration;

/// One implementation in a throughput comparison.
pub struct Contender {
    /// Column name.
    pub name: &'static str,
    /// Measures `threads` threads for `duration`.
    pub run: Box<dyn Fn(usize, Duration) -> Sample>,
}

/// How much to measure: thread counts, length of one measurement, runs per figure.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Thread counts to measure.
    pub threads: Vec<usize>,
    /// Length of one measurement.
    pub duration: Duration,
    /// Runs per figure; the median is reported.
    pub runs: usize,
}

/// The medians of one comparison, by implementation and thread count.
#[derive(Clone, Debug)]
pub struct Figures {
    /// The table's title.
    pub title: String,
    /// The thread counts measured.
    pub threads: Vec<usize>,
    /// Implementation names, ours first.
    pub names: Vec<&'static str>,
    /// `throughput[implementation][thread count]`, operations per second.
    pub throughput: Vec<Vec<f64>>,
    /// `fairness[implementation][thread count]`, min/max of per-thread counts.
    pub fairness: Vec<Vec<f64>>,
    /// The same per second of each thread's own CPU time (NaN where unknown): what is left
    /// of the fairness figure once the scheduler's sharing of the CPUs is taken out.
    pub fairness_per_cpu_time: Vec<Vec<f64>>,
}

/// Measures every contender at every thread count, `plan.runs` times, interleaved; prints the
/// throughput table (with the ratio of the first contender to each of the others and to the
/// best of them) and the fairness table, and returns the figures.
pub fn compare_throughput(title: &str, contenders: &[Contender], plan: &Plan) -> Figures {
    let estimate =
        plan.duration.as_secs_f64() * (plan.runs * contenders.len() * plan.threads.len()) as f64;
    eprintln!("measuring {title} (about {estimate:.0} s)");
    let mut figures = Figures {
        title: title.to_string(),
        threads: plan.threads.clone(),
        names: contenders.iter().map(|contender| contender.name).collect(),
        throughput: vec![Vec::new(); contenders.len()],
        fairness: vec![Vec::new(); contenders.len()],
        fairness_per_cpu_time: vec![Vec::new(); contenders.len()],
    };
    for &threads in &plan.threads {
        let samples = interleaved(plan.runs, contenders.len(), |index| {
            (contenders[index].run)(threads, plan.duration)
        });
        for (index, samples) in samples.iter().enumerate() {
            figures.throughput[index].push(median_of(samples, Sample::ops_per_second));
            figures.fairness[index].push(median_of(samples, Sample::fairness));
            figures.fairness_per_cpu_time[index]
                .push(median_of(samples, Sample::fairness_per_cpu_time));
        }
        eprintln!("  {threads:>3} threads done");
    }
    print_throughput(&figures, plan);
    print_fairness(&figures);
    print_ceiling(&figures);
    figures
}

fn print_throughput(figures: &Figures, plan: &Plan) {
    let (ours, baselines) = (figures.names[0], &figures.names[1..]);
    println!("{}", figures.title);
    println!(
        "ops/s in millions, median of {} x {} ms; ratios are {ours} / baseline (pl = parking_lot)",
        runs_text(plan.runs),
        plan.duration.as_millis()
    );
    println!();
    let mut header = format!("| threads | {:>11} |", ours);
    for baseline in baselines {
        header.push_str(&format!(" {:>11} |", baseline));
    }
    for baseline in baselines {
        header.push_str(&format!(" {:>14} |", format!("vs {baseline}")));
    }
    if !baselines.is_empty() {
        header.push_str(&format!(" {:>14} |", "vs best"));
    }
    println!("{header}");
    println!("{}", separator(&header));
    for (thread_index, &threads) in figures.threads.iter().enumerate() {
        let medians: Vec<f64> =
            figures.throughput.iter().map(|by_threads| by_threads[thread_index]).collect();
        let mut row = format!("| {threads:>7} |");
        for value in &medians {
            row.push_str(&format!(" {:>11.2} |", value / 1e6));
        }
        for value in &medians[1..] {
            row.push_str(&format!(" {:>13.2}x |", medians[0] / value));
        }
        let best = medians[1..].iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1));
        if let Some((best_index, best)) = best {
            let best_name = short(baselines[best_index]);
            row.push_str(&format!(" {:>14} |", format!("{:.2}x {best_name}", medians[0] / best)));
        }
        println!("{row}");
    }
    println!();
}

/// The CPU ceiling of each row: no implementation can do more than `min(threads, CPUs)` times
/// what one thread alone does (the work inside and outside the lock is fixed; the best
/// 1-thread figure stands for "alone"). Where the best baseline is above 1 / 1.10 of the
/// ceiling, a 1.10× lead over it does not fit under it. Printed only if 1 thread was measured.
fn print_ceiling(figures: &Figures) {
    let Some(one) = figures.threads.iter().position(|&threads| threads == 1) else {
        return;
    };
    let alone = figures.throughput.iter().map(|by_threads| by_threads[one]).fold(0.0, f64::max);
    let cpus = cpu_count();
    println!(
        "ceiling: min(threads, {cpus} CPUs) x the best 1-thread figure ({:.2} M ops/s); \
         shares of it (a 1.10x lead fits only under a best baseline below {:.0} %)",
        alone / 1e6,
        100.0 / 1.10
    );
    println!();
    let header = format!(
        "| threads | {:>11} | {:>11} | {:>13} |",
        "ceiling", figures.names[0], "best baseline"
    );
    println!("{header}");
    println!("{}", separator(&header));
    for (thread_index, &threads) in figures.threads.iter().enumerate() {
        let ceiling = alone * threads.min(cpus) as f64;
        let share = |value: f64| format!("{:.0} %", 100.0 * value / ceiling);
        let ours = figures.throughput[0][thread_index];
        // (No baseline when `--only` picked one implementation.)
        let best = figures.throughput[1..]
            .iter()
            .map(|by_threads| by_threads[thread_index])
            .reduce(f64::max)
            .map_or_else(|| "-".to_string(), share);
        println!("| {threads:>7} | {:>11.2} | {:>11} | {best:>13} |", ceiling / 1e6, share(ours));
    }
    println!();
}

fn print_fairness(figures: &Figures) {
    println!("fairness: per-thread ops, min/max (1.00 = equal shares), median of runs");
    println!();
    print_by_threads(figures, &figures.fairness);
    if figures.fairness_per_cpu_time.iter().flatten().all(|value| !value.is_nan()) {
        println!(
            "the same per second of each thread's own CPU time (the scheduler's sharing of \
             the CPUs taken out), median of runs"
        );
        println!();
        print_by_threads(figures, &figures.fairness_per_cpu_time);
    }
}

/// A table of one figure per implementation and thread count.
fn print_by_threads(figures: &Figures, values: &[Vec<f64>]) {
    let mut header = String::from("| threads |");
    for name in &figures.names {
        header.push_str(&format!(" {:>11} |", name));
    }
    println!("{header}");
    println!("{}", separator(&header));
    for (thread_index, &threads) in figures.threads.iter().enumerate() {
        let mut row = format!("| {threads:>7} |");
        for by_threads in values {
            row.push_str(&format!(" {:>11.2} |", by_threads[thread_index]));
        }
        println!("{row}");
    }
    println!();
}

/// A Markdown separator row matching `header`'s columns.
pub fn separator(header: &str) -> String {
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

/// A duration in ns as `12 ns`, `3.4 us` or `5.67 ms`.
pub fn format_ns(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.1} us", ns / 1e3)
    } else {
        format!("{:.2} ms", ns / 1e6)
    }
}
