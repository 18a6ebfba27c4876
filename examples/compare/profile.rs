//! `--profile`: atomsync's contention counts (`atomsync::stats`, feature `stats`) beside the
//! throughput tables. Each run of an atomsync contender is measured between a
//! `stats::reset()` and a `stats::snapshot()`; the counts of all runs with the same label (a
//! thread count, a workload) are summed with their operations and printed per 1 000
//! operations (or per operation, where one is large: a pool workload's run, a condvar round
//! trip). The baselines have no
//! counters: `docs/benchmarks.md` quotes `strace -f -c` for them.
//!
//! Without the feature the module has the same interface, but a [`Recorder`] cannot be made:
//! `--profile` is refused with [`NEEDS_FEATURE`] before anything runs.

use std::cell::RefCell;

/// What `--profile` prints when the example was built without the feature.
pub const NEEDS_FEATURE: &str = "--profile reads atomsync's contention counters, which exist \
only with its `stats` feature; run\n    cargo run --release --features stats --example compare -- \
--profile [OPTIONS]";

/// Per how many operations a table counts.
#[derive(Clone, Copy)]
// Read only by the printing, which needs the feature.
#[cfg_attr(not(feature = "stats"), allow(dead_code))]
pub enum Per {
    /// Per 1 000 operations.
    Thousand,
    /// Per operation, named (a workload whose operation is large: a run, a round trip).
    One(&'static str),
}

#[cfg(feature = "stats")]
use atomsync::stats::{self, Counters, Profile};

/// The profiles of the runs measured so far, by label, in first-seen order.
#[derive(Default)]
pub struct Recorder {
    #[cfg(feature = "stats")]
    rows: RefCell<Vec<(String, u64, Profile)>>,
    #[cfg(not(feature = "stats"))]
    rows: RefCell<Vec<()>>,
}

impl Recorder {
    /// A recorder, if the example was built with the `stats` feature.
    pub fn new() -> Option<Recorder> {
        cfg!(feature = "stats").then(Recorder::default)
    }

    /// Runs `run`, which returns its result and how many operations it did, and adds its
    /// profile and operations to the row `label`.
    #[cfg(feature = "stats")]
    pub fn measure<R>(&self, label: &str, run: impl FnOnce() -> (R, u64)) -> R {
        stats::reset();
        let (result, operations) = run();
        let profile = stats::snapshot();
        let mut rows = self.rows.borrow_mut();
        match rows.iter_mut().find(|row| row.0 == label) {
            Some(row) => {
                row.1 += operations;
                row.2 = row.2 + profile;
            }
            None => rows.push((label.to_string(), operations, profile)),
        }
        result
    }

    /// Without the feature: just runs `run` (never called: no recorder exists).
    #[cfg(not(feature = "stats"))]
    pub fn measure<R>(&self, _label: &str, run: impl FnOnce() -> (R, u64)) -> R {
        run().0
    }

    /// Prints one table per primitive in `primitives` (names as in `Profile::rows`: "Mutex",
    /// "Condvar", ...), one line per label, the counts `per` operation, and forgets the rows.
    #[cfg(feature = "stats")]
    pub fn print(&self, heading: &str, primitives: &[&str], per: Per) {
        let rows = self.rows.take();
        for &primitive in primitives {
            let counters: Vec<(&str, u64, Counters)> = rows
                .iter()
                .map(|(label, operations, profile)| {
                    let row = profile.rows().into_iter().find(|row| row.0 == primitive);
                    (label.as_str(), *operations, row.expect("a primitive of Profile::rows").1)
                })
                .collect();
            print_table(heading, primitive, &counters, per);
        }
    }

    /// Without the feature: nothing to print.
    #[cfg(not(feature = "stats"))]
    pub fn print(&self, _heading: &str, _primitives: &[&str], _per: Per) {
        self.rows.take();
    }
}

/// The counters that mean something for `primitive` (the pool has no fast path, the locks
/// no jobs, nobody in these workloads times out).
#[cfg(feature = "stats")]
fn shown(primitive: &str, name: &str) -> bool {
    match name {
        "timeouts" => false,
        "jobs" | "steals" => primitive == "ThreadPool",
        "fast" | "contended" | "hand-offs" => primitive != "ThreadPool",
        _ => true,
    }
}

#[cfg(feature = "stats")]
fn print_table(heading: &str, primitive: &str, rows: &[(&str, u64, Counters)], per: Per) {
    let unit = match per {
        Per::Thousand => "per 1 000 operations",
        Per::One(operation) => operation,
    };
    println!("atomsync contention profile ({primitive} counters), {heading}, {unit}");
    println!();
    let names: Vec<&str> = Counters::default()
        .fields()
        .iter()
        .map(|field| field.0)
        .filter(|name| shown(primitive, name))
        .collect();
    let label_width = rows.iter().map(|row| row.0.len()).max().unwrap_or(0);
    let mut header = format!("| {:>label_width$} |", "");
    for name in names.iter().chain(&["syscalls"]) {
        header.push_str(&format!(" {name:>9} |"));
    }
    println!("{header}");
    println!("{}", super::support::table::separator(&header));
    for (label, operations, counters) in rows {
        let scale = match per {
            Per::Thousand => 1000.0 / (*operations).max(1) as f64,
            Per::One(_) => 1.0 / (*operations).max(1) as f64,
        };
        let mut line = format!("| {label:<label_width$} |");
        let values = counters.fields().into_iter().filter(|field| shown(primitive, field.0));
        for (name, value) in values.chain([("syscalls", counters.syscalls())]) {
            let width = name.len().max(9);
            line.push_str(&format!(" {:>width$} |", figure(value as f64 * scale)));
        }
        println!("{line}");
    }
    println!();
}

/// Three significant digits at most, no exponent: `0`, `0.004`, `12.3`, `997`, `31250`.
#[cfg(feature = "stats")]
fn figure(value: f64) -> String {
    if value == 0.0 {
        "0".to_string()
    } else if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else if value >= 0.01 {
        format!("{value:.2}")
    } else {
        format!("{value:.4}")
    }
}
