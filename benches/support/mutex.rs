//! The mutex workload: a lock around a `u64`, incremented under the lock, with optional
//! calibrated work inside and outside the critical section.

use super::harness::{Padded, Sample, run_for, run_total};
use super::table::Contender;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// What a thread does while holding the lock (and between acquisitions).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum CriticalSection {
    /// Increment the protected counter; nothing outside.
    Tiny,
    /// Increment plus about `inside` ns of arithmetic under the lock, `outside` ns after it.
    Work { inside_ns: u32, outside_ns: u32 },
}

impl CriticalSection {
    /// The words the table titles use.
    pub fn describe(self) -> String {
        match self {
            Self::Tiny => "tiny critical section (lock; counter += 1; unlock)".to_string(),
            Self::Work { inside_ns, outside_ns } => format!(
                "~{inside_ns} ns critical section (counter += 1 and arithmetic), ~{outside_ns} ns of work outside"
            ),
        }
    }
}

/// A lock around a `u64` under test, as the workloads create it.
pub trait Named: Send + Sync + 'static {
    /// Column name.
    const NAME: &'static str;
    /// A new, unlocked lock holding `value`.
    fn new(value: u64) -> Self;
}

macro_rules! named {
    ($($lock:ty => $name:literal),*) => {$(
        impl Named for $lock {
            const NAME: &'static str = $name;
            fn new(value: u64) -> Self {
                <$lock>::new(value)
            }
        }
    )*};
}

named!(
    atomsync::Mutex<u64> => "atomsync",
    std::sync::Mutex<u64> => "std",
    parking_lot::Mutex<u64> => "parking_lot",
    spin::Mutex<u64> => "spin",
    atomsync::RwLock<u64> => "atomsync",
    std::sync::RwLock<u64> => "std",
    parking_lot::RwLock<u64> => "parking_lot"
);

/// A mutex protecting a `u64`, as the workloads use it.
pub trait Lock: Named {
    /// Locks, runs `f` on the protected value, unlocks.
    fn with<R>(&self, f: impl FnOnce(&mut u64) -> R) -> R;
}

/// `Lock` for mutexes whose `lock()` returns a guard (no poisoning).
macro_rules! lock_with_guard {
    ($($mutex:ty),*) => {$(
        impl Lock for $mutex {
            #[inline]
            fn with<R>(&self, f: impl FnOnce(&mut u64) -> R) -> R {
                f(&mut self.lock())
            }
        }
    )*};
}

lock_with_guard!(atomsync::Mutex<u64>, parking_lot::Mutex<u64>, spin::Mutex<u64>);

impl Lock for std::sync::Mutex<u64> {
    #[inline]
    fn with<R>(&self, f: impl FnOnce(&mut u64) -> R) -> R {
        f(&mut self.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

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
            CriticalSection::Work { inside_ns, outside_ns } => {
                Work { inside: iterations(inside_ns), outside: iterations(outside_ns) }
            }
        }
    }

    /// Runs the `inside` work (call it under the lock).
    #[inline]
    pub fn inside(self) {
        if self.inside != 0 {
            spin_work(self.inside);
        }
    }

    /// Runs the `outside` work (call it after unlocking).
    #[inline]
    pub fn outside(self) {
        if self.outside != 0 {
            spin_work(self.outside);
        }
    }

    /// One operation: lock, increment, `inside` work, unlock, `outside` work.
    #[inline]
    pub fn operation<L: Lock>(self, lock: &L) {
        lock.with(|value| {
            *value += 1;
            self.inside();
        });
        self.outside();
    }
}

/// A chain of dependent multiply-adds the optimizer cannot remove or shorten.
#[inline(never)]
pub fn spin_work(iterations: u32) {
    let mut x = black_box(0x9E37_79B9_7F4A_7C15_u64);
    for _ in 0..iterations {
        x = black_box(
            x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407),
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

/// `threads` threads doing `work.operation` on one `L` for `duration`.
pub fn contend_for<L: Lock>(threads: usize, duration: Duration, work: Work) -> Sample {
    let lock = Padded(L::new(0));
    let (elapsed, per_thread, per_thread_cpu) = run_for(threads, duration, |_, stop| {
        let mut operations = 0_u64;
        while stop.running() {
            work.operation(&lock.0);
            operations += 1;
        }
        operations
    });
    // Mutual exclusion check for free: every increment must have landed.
    assert_eq!(
        lock.0.with(|value| *value),
        per_thread.iter().sum::<u64>(),
        "{} lost increments",
        L::NAME
    );
    Sample { elapsed, per_thread, per_thread_cpu }
}

/// `threads` threads doing `total` operations of `work` on one `L` between them, claimed in
/// batches of `batch`; returns the time from the first thread's start to the last one's finish.
pub fn contend_total<L: Lock>(threads: usize, total: u64, batch: u64, work: Work) -> Duration {
    let lock = Padded(L::new(0));
    let (elapsed, _) = run_total(threads, total, batch, |_, claims| {
        while let Some(batch) = claims.next_batch() {
            for _ in batch {
                work.operation(&lock.0);
            }
        }
    });
    assert_eq!(lock.0.with(|value| *value), total, "{} lost increments", L::NAME);
    elapsed
}

/// A contender running the mutex workload `work` on `L`.
pub fn mutex_contender<L: Lock>(work: Work) -> Contender {
    Contender {
        name: L::NAME,
        run: Box::new(move |threads, duration| contend_for::<L>(threads, duration, work)),
    }
}
