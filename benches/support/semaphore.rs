//! The semaphore workload: acquire one permit, hold it for a short spin, release, spin as
//! long again; every implementation is checked to never let more than its permits in.

use super::harness::{Padded, Sample, run_for, run_total};
use super::table::Contender;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

/// `spin_loop` hints while holding a permit, and again between operations.
pub const SEMAPHORE_HOLD_SPINS: u32 = 4;

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

/// `count` `spin_loop` hints: the semaphore workload's hold and pause (and `compare`'s no-lock
/// control of the same shape).
pub fn spin(count: u32) {
    for _ in 0..count {
        std::hint::spin_loop();
    }
}

/// A semaphore of some permits and a count of the threads that hold one.
pub struct Guarded<S> {
    semaphore: Padded<S>,
    permits: usize,
    holders: Padded<AtomicUsize>,
}

impl<S: SemaphoreLike> Guarded<S> {
    /// A new `S` of `permits`.
    pub fn new(permits: usize) -> Self {
        Guarded {
            semaphore: Padded(S::new(permits)),
            permits,
            holders: Padded(AtomicUsize::new(0)),
        }
    }

    /// One operation: acquire, a short hold, release, a short pause; panics if more than
    /// `permits` threads held a permit at once.
    #[inline]
    pub fn operation(&self) {
        self.semaphore.0.with_permit(|| {
            // Relaxed: a sanity count; the semaphore orders the holders.
            let now = self.holders.0.fetch_add(1, Relaxed);
            assert!(now < self.permits, "{} let {} holders in", S::NAME, now + 1);
            spin(SEMAPHORE_HOLD_SPINS);
            self.holders.0.fetch_sub(1, Relaxed);
        });
        spin(SEMAPHORE_HOLD_SPINS);
    }
}

/// `threads` threads each looping [`Guarded::operation`] on one `S` of `permits` for
/// `duration`.
pub fn semaphore_contend_for<S: SemaphoreLike>(
    permits: usize,
    threads: usize,
    duration: Duration,
) -> Sample {
    let semaphore = Guarded::<S>::new(permits);
    let (elapsed, per_thread, per_thread_cpu) = run_for(threads, duration, |_, stop| {
        let mut operations = 0_u64;
        while stop.running() {
            semaphore.operation();
            operations += 1;
        }
        operations
    });
    Sample { elapsed, per_thread, per_thread_cpu }
}

/// `threads` threads doing `total` operations on one `S` of `permits` between them, claimed
/// in batches of `batch`; returns the time from the first thread's start to the last one's
/// finish.
pub fn semaphore_contend_total<S: SemaphoreLike>(
    permits: usize,
    threads: usize,
    total: u64,
    batch: u64,
) -> Duration {
    let semaphore = Guarded::<S>::new(permits);
    run_total(threads, total, batch, |_, claims| {
        while let Some(batch) = claims.next_batch() {
            batch.for_each(|_| semaphore.operation());
        }
    })
    .0
}

/// A contender running the semaphore workload with `permits` permits on `S`.
pub fn semaphore_contender<S: SemaphoreLike>(permits: usize) -> Contender {
    Contender {
        name: S::NAME,
        run: Box::new(move |threads, duration| {
            semaphore_contend_for::<S>(permits, threads, duration)
        }),
    }
}
