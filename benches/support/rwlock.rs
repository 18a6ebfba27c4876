//! The rwlock workload: a mix of reads and writes (increments) of a `u64`, with the mutex
//! workload's optional work inside and outside.

use super::harness::{Padded, Sample, run_for, run_total};
use super::mutex::{Named, Work};
use super::table::Contender;
use std::hint::black_box;
use std::time::Duration;

/// The read percentages of the rwlock comparison.
pub const RWLOCK_MIXES: [u32; 3] = [100, 90, 50];

/// A reader-writer lock protecting a `u64`, as the rwlock workloads use it.
pub trait RwLockish: Named {
    /// Read-locks, runs `f` on the value, unlocks.
    fn read<R>(&self, f: impl FnOnce(&u64) -> R) -> R;
    /// Write-locks, runs `f` on the value, unlocks.
    fn write<R>(&self, f: impl FnOnce(&mut u64) -> R) -> R;
}

/// `RwLockish` for locks whose `read()`/`write()` return guards (no poisoning).
macro_rules! rwlock_with_guards {
    ($($lock:ty),*) => {$(
        impl RwLockish for $lock {
            #[inline]
            fn read<R>(&self, f: impl FnOnce(&u64) -> R) -> R {
                f(&self.read())
            }
            #[inline]
            fn write<R>(&self, f: impl FnOnce(&mut u64) -> R) -> R {
                f(&mut self.write())
            }
        }
    )*};
}

rwlock_with_guards!(atomsync::RwLock<u64>, parking_lot::RwLock<u64>);

impl RwLockish for std::sync::RwLock<u64> {
    #[inline]
    fn read<R>(&self, f: impl FnOnce(&u64) -> R) -> R {
        f(&self.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
    #[inline]
    fn write<R>(&self, f: impl FnOnce(&mut u64) -> R) -> R {
        f(&mut self.write().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

/// The xorshift state of thread `index`.
pub fn rwlock_rng(index: usize) -> u64 {
    0x2545_F491_4F6C_DD1D_u64 ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9)
}

/// One rwlock operation: with probability `read_percent`% a read (load the value, `inside`
/// work), else a write (increment, `inside` work); then `outside` work. `rng` is the thread's
/// xorshift state. Returns 1 for a write, 0 for a read.
#[inline]
pub fn rwlock_operation<L: RwLockish>(
    lock: &L,
    read_percent: u32,
    work: Work,
    rng: &mut u64,
) -> u64 {
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    let wrote = if (*rng % 100) < u64::from(read_percent) {
        lock.read(|value| {
            black_box(*value);
            work.inside();
        });
        0
    } else {
        lock.write(|value| {
            *value += 1;
            work.inside();
        });
        1
    };
    work.outside();
    wrote
}

/// `threads` threads doing [`rwlock_operation`] on one `L` for `duration`.
pub fn rwlock_contend_for<L: RwLockish>(
    threads: usize,
    duration: Duration,
    read_percent: u32,
    work: Work,
) -> Sample {
    let lock = Padded(L::new(0));
    let (elapsed, counts, per_thread_cpu) = run_for(threads, duration, |index, stop| {
        let mut rng = rwlock_rng(index);
        let (mut operations, mut writes) = (0_u64, 0_u64);
        while stop.running() {
            writes += rwlock_operation(&lock.0, read_percent, work, &mut rng);
            operations += 1;
        }
        (operations, writes)
    });
    // Exclusion check for free: every write must have landed.
    let writes = counts.iter().map(|count| count.1).sum::<u64>();
    assert_eq!(lock.0.read(|value| *value), writes, "{} lost writes", L::NAME);
    Sample { elapsed, per_thread: counts.iter().map(|count| count.0).collect(), per_thread_cpu }
}

/// `threads` threads doing `total` operations of the mix on one `L` between them, claimed in
/// batches of `batch`; returns the time from the first thread's start to the last one's finish.
pub fn rwlock_contend_total<L: RwLockish>(
    threads: usize,
    total: u64,
    batch: u64,
    read_percent: u32,
    work: Work,
) -> Duration {
    let lock = Padded(L::new(0));
    let (elapsed, writes) = run_total(threads, total, batch, |index, claims| {
        let mut rng = rwlock_rng(index);
        let mut writes = 0;
        while let Some(batch) = claims.next_batch() {
            for _ in batch {
                writes += rwlock_operation(&lock.0, read_percent, work, &mut rng);
            }
        }
        writes
    });
    assert_eq!(lock.0.read(|value| *value), writes.iter().sum::<u64>(), "{} lost writes", L::NAME);
    elapsed
}

/// A contender running the rwlock mix `read_percent` with `work` on `L`.
pub fn rwlock_contender<L: RwLockish>(read_percent: u32, work: Work) -> Contender {
    Contender {
        name: L::NAME,
        run: Box::new(move |threads, duration| {
            rwlock_contend_for::<L>(threads, duration, read_percent, work)
        }),
    }
}
