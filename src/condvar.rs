//! A condition variable on a futex sequence counter, used with [`Mutex`](crate::Mutex).
//!
//! Two 32-bit words, 8 bytes in all:
//!
//! | word      | bits   | meaning                                                          |
//! |-----------|--------|------------------------------------------------------------------|
//! | `seq`     | 0..32  | bumped by every notify; waiters sleep on it (the futex word)     |
//! | `waiters` | 0..16  | threads between registering in `wait` and re-taking the mutex    |
//! | `waiters` | 16     | REQUEUE: a `notify_all` asks the next woken waiter to requeue    |
//! | `waiters` | 17..32 | a 15-bit tag of the mutex the current waiters use                |
//!
//! ```text
//! wait:       (deadline passed: time out at once) register (waiters += 1, tag checked),
//!             read seq, unlock, (at most two waiting: spin while seq is unchanged, for up
//!             to the mutex's spin schedule) sleep while seq is unchanged, re-lock,
//!             unregister; if REQUEUE
//!             was set, take it and (still holding the mutex) move every other sleeper onto
//!             the mutex word with FUTEX_CMP_REQUEUE
//! notify_one: if waiters > 0: seq += 1, wake one
//! notify_all: if waiters > 0: set REQUEUE, seq += 1, wake one
//! ```
//!
//! `notify_all` wakes a single thread; that thread knows its mutex (the condvar does not store
//! a pointer to it, which keeps it at 8 bytes) and, once it holds the mutex, requeues the rest
//! onto the mutex word, where each `unlock` wakes two of them in turn (the next one on its way
//! to a CPU while the first has the mutex; the mutex's `REQUEUED_WAKES`): no thundering herd. On
//! platforms without `FUTEX_CMP_REQUEUE`, `notify_all` wakes everyone.
//!
//! **A hand-off between two threads does not sleep**: a waiter that finds at most one other
//! thread waiting watches `seq` through the shared spin schedule of `spin.rs` (3 busy-wait
//! rounds, then 7 yields: some microseconds) before its futex wait, and a notify that comes meanwhile costs
//! it no sleep and no context switch. That is the producer/consumer or ping-pong pattern,
//! where the partner notifies within microseconds; a round trip between two threads on two
//! CPUs drops from two sleeps and two wake-ups to two `futex_wake` calls (measured: 11 µs →
//! under 1 µs on the benchmark machine, `docs/benchmarks.md`). With three or more waiting
//! (a pool of idle workers, `notify_all` to a crowd) nobody spins: the CPU is better spent on
//! the threads that run. The spin only ends the wait early, as a futex wait whose word had
//! already changed does, so the protocol below is the same with or without it.
//!
//! **Timeouts tell the truth**: a timed wait reports a timeout only if no notify came while it
//! waited. A requeued waiter sleeps on the mutex word still under its own deadline, and may
//! time out there long after `notify_all` reached it (while the waiters before it hold the
//! mutex); a notify may also bump `seq` just as the timeout fires. So when the futex wait times
//! out, the waiter compares `seq` with the value it read before sleeping: changed means
//! notified (at worst a spurious wake-up, if that notify's wake went to another waiter). A wait
//! whose futex wait was woken is never reported as timed out: a wake wins over a simultaneous
//! timeout in the kernel, so a notify's wake is never spent on a waiter that then says it
//! timed out.
//!
//! **Spurious wake-ups are possible** (a signal, or a thread that started waiting just after a
//! `notify_all` being requeued with the others), so, as `lock_api`'s contract asks,
//! `notify_one` returns `false` and `notify_all` returns `0`; use `wait_while` or re-check your
//! condition in a loop.
//!
//! **One mutex at a time**: all threads waiting at the same moment must use the same mutex;
//! waiting with a second mutex while others wait with a first panics (before unlocking
//! anything). Once every waiter has left, the condvar may be used with another mutex.
//! The check compares a 15-bit hash of the mutex's address, so a mix-up of two mutexes escapes
//! it with probability 1 in 32768.

use crate::futex;
use crate::mutex::RawMutex;
use crate::shim::{self, AtomicU32};
use crate::spin::SpinWait;
use crate::stats::Primitive;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

const WAITER: u32 = 1;
const WAITERS_MASK: u32 = 0xFFFF;
const REQUEUE: u32 = 1 << 16;
const TAG_SHIFT: u32 = 17;

/// A waiter spins for its notify before it sleeps only while at most this many wait, itself
/// included (module docs).
const SPIN_WAITERS: u32 = 2;

/// A 15-bit hash of the mutex's address.
fn tag_of(mutex: &RawMutex) -> u32 {
    let address = mutex as *const RawMutex as usize as u64;
    (address.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - (32 - TAG_SHIFT))) as u32
}

/// The raw condition variable behind [`Condvar`]; works with [`RawMutex`]. 8 bytes.
///
/// ```
/// use atomsync::RawCondvar;
/// assert_eq!(std::mem::size_of::<RawCondvar>(), 8);
/// ```
#[derive(Debug)]
pub struct RawCondvar {
    seq: AtomicU32,
    waiters: AtomicU32,
}

impl RawCondvar {
    shim::const_fn! {
        /// A new condition variable with no waiters.
        ///
        /// ```
        /// static READY: atomsync::RawCondvar = atomsync::RawCondvar::new();
        /// assert!(!READY.notify_one());
        /// ```
        pub const fn new() -> Self {
            Self { seq: AtomicU32::new(0), waiters: AtomicU32::new(0) }
        }
    }

    /// Unlocks `mutex`, sleeps until notified (or spuriously, or until `deadline`), re-locks
    /// `mutex`. Returns false if the deadline passed and no notify came while it waited (one
    /// that came in time counts, however long re-taking the mutex took afterwards); a deadline
    /// already passed returns false at once, without unlocking.
    ///
    /// # Safety
    /// The caller must hold `mutex`; the protected data must not be touched until this returns.
    ///
    /// # Panics
    /// If other threads are waiting on this condvar with a different mutex, or if 65535
    /// threads already wait on it. The mutex is still held when it panics.
    ///
    /// ```
    /// use atomsync::{RawCondvar, RawMutex};
    /// use std::time::{Duration, Instant};
    /// let (mutex, condvar) = (RawMutex::new(), RawCondvar::new());
    /// mutex.lock();
    /// // SAFETY: we hold `mutex`.
    /// let notified = unsafe { condvar.wait_raw(&mutex, Some(Instant::now() + Duration::from_millis(1))) };
    /// assert!(!notified);
    /// assert!(mutex.is_locked());
    /// # unsafe { mutex.unlock() };
    /// ```
    pub unsafe fn wait_raw(&self, mutex: &RawMutex, deadline: Option<Instant>) -> bool {
        // A passed deadline (`Duration::ZERO`) times out at once: no register, unlock, futex
        // call and re-lock for a wait that cannot wait.
        if futex::deadline_passed(deadline) {
            stat!(Condvar, Timeout);
            return false;
        }
        stat!(Condvar, Contended);
        let registered = self.register(mutex);
        // Relaxed: we hold the mutex, and any notify that must wake us is ordered after our
        // release of it (the notifier changed the condition under the mutex), so it bumps
        // `seq` after this load and the futex check below sees the difference.
        let seq = self.seq.load(Relaxed);
        // SAFETY: the caller holds `mutex`.
        unsafe { mutex.unlock() };
        // A futex timeout does not mean nobody notified us in time: after a `notify_all` we
        // may sleep on the mutex word (requeued), still under our deadline, until earlier
        // waiters have had the mutex; or a notify bumped `seq` just as the timeout fired. Any
        // bump since our read is a notify issued while we waited, so we report it as one (at
        // worst a spurious wake-up, which the contract allows).
        // Relaxed: only the value matters, as for the futex's own check.
        let notified = (registered <= SPIN_WAITERS && self.spin_for_notify(seq))
            || match futex::wait(&self.seq, seq, deadline, Primitive::Condvar) {
                futex::Wait::TimedOut => self.seq.load(Relaxed) != seq,
                futex::Wait::Woken | futex::Wait::Returned => true,
            };
        mutex.lock_after_wait();
        self.unregister(mutex);
        stat!(Condvar, Timeout, !notified);
        notified
    }

    /// Watches for a notify (`seq` moving on from `seq`) through the spin schedule, before a
    /// futex sleep (module docs). True if one came.
    fn spin_for_notify(&self, seq: u32) -> bool {
        let mut spin = SpinWait::new(Primitive::Condvar);
        while spin.spin() {
            // Relaxed: as the futex's own check.
            if self.seq.load(Relaxed) != seq {
                return true;
            }
        }
        false
    }

    /// Counts us as a waiter and checks that all current waiters use the same mutex. Returns
    /// how many wait now, us included.
    fn register(&self, mutex: &RawMutex) -> u32 {
        let tag = tag_of(mutex);
        let mut waiters = self.waiters.load(Relaxed);
        loop {
            let new = if waiters & WAITERS_MASK == 0 {
                // First waiter: the mutex tag (and no stale REQUEUE request) is ours to set.
                (tag << TAG_SHIFT) | WAITER
            } else {
                assert!(
                    waiters >> TAG_SHIFT == tag,
                    "atomsync::Condvar: waited on with two different mutexes at once"
                );
                assert!(
                    waiters & WAITERS_MASK != WAITERS_MASK,
                    "atomsync::Condvar: too many waiters"
                );
                waiters + WAITER
            };
            // Relaxed: the count is read by notifiers that hold (or held) the mutex after we
            // release it; the mutex's Release/Acquire orders this increment before their read.
            match self.waiters.compare_exchange_weak(waiters, new, Relaxed, Relaxed) {
                Ok(_) => return new & WAITERS_MASK,
                Err(actual) => waiters = actual,
            }
        }
    }

    /// Uncounts us (we hold the mutex again) and, if a `notify_all` asked for it, moves the
    /// other sleepers onto the mutex word.
    fn unregister(&self, mutex: &RawMutex) {
        // Relaxed: a counter; the REQUEUE request is taken by exactly one thread via this RMW.
        let before = self
            .waiters
            .fetch_update(Relaxed, Relaxed, |waiters| Some((waiters - WAITER) & !REQUEUE));
        let before = before.unwrap_or_else(|never| never);
        if before & REQUEUE != 0 && before & WAITERS_MASK > 1 {
            self.requeue_onto(mutex);
        }
    }

    /// Moves every thread sleeping on `seq` onto the mutex word. We hold the mutex, which is
    /// what lets the mutex's REQUEUED bit be set and cleared without races.
    #[cfg(any(target_os = "linux", loom))]
    fn requeue_onto(&self, mutex: &RawMutex) {
        loop {
            // Relaxed: FUTEX_CMP_REQUEUE compares the value itself; a stale one just retries.
            let seq = self.seq.load(Relaxed);
            if let Some(moved) = futex::requeue(&self.seq, seq, &mutex.state, Primitive::Condvar) {
                stat!(Condvar, HandOff, moved);
                if moved > 0 {
                    mutex.mark_requeued();
                }
                return;
            }
        }
    }

    #[cfg(not(any(target_os = "linux", loom)))]
    fn requeue_onto(&self, _mutex: &RawMutex) {
        // notify_all already woke everyone.
    }

    /// Wakes one waiting thread, if any. The guard-free form of `Condvar::notify_one`; always
    /// returns false (spurious wake-ups are possible, so no exact count is promised).
    ///
    /// ```
    /// let condvar = atomsync::RawCondvar::new();
    /// assert!(!condvar.notify_one());
    /// ```
    pub fn notify_one(&self) -> bool {
        // Relaxed: see `register`.
        if self.waiters.load(Relaxed) & WAITERS_MASK == 0 {
            stat!(Condvar, Fast);
            return false;
        }
        // Relaxed: the wake is ordered by the futex itself; data goes through the mutex.
        self.seq.fetch_add(1, Relaxed);
        #[cfg(not(atomsync_seeded_bug))]
        futex::wake_one(&self.seq, Primitive::Condvar);
        false
    }

    /// Wakes every waiting thread: one now, the rest two at a time as the mutex is released.
    /// Always returns 0 (see [`notify_one`](Self::notify_one)).
    ///
    /// ```
    /// let condvar = atomsync::RawCondvar::new();
    /// assert_eq!(condvar.notify_all(), 0);
    /// ```
    pub fn notify_all(&self) -> usize {
        // Relaxed: see `register`.
        let waiters = self.waiters.load(Relaxed);
        if waiters & WAITERS_MASK == 0 {
            stat!(Condvar, Fast);
            return 0;
        }
        if cfg!(any(target_os = "linux", loom)) {
            if waiters & WAITERS_MASK > 1 {
                // Relaxed: read by the woken waiter's RMW in `unregister`, after the seq bump
                // it woke on.
                self.waiters.fetch_or(REQUEUE, Relaxed);
            }
            // Relaxed: as in `notify_one`.
            self.seq.fetch_add(1, Relaxed);
            futex::wake_one(&self.seq, Primitive::Condvar);
        } else {
            // Relaxed: as in `notify_one`.
            self.seq.fetch_add(1, Relaxed);
            futex::wake_all(&self.seq, Primitive::Condvar);
        }
        0
    }
}

impl Default for RawCondvar {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: `wait` registers and reads `seq` while holding the mutex, then releases it, so a
// notify ordered after that release changes `seq` after our read and the futex wait cannot
// miss it; `wait` always re-locks before returning and never unwinds after unlocking (its
// panics happen in `register`, before the unlock).
#[cfg(not(loom))]
unsafe impl lock_api::RawCondvar for RawCondvar {
    const INIT: Self = Self::new();
    type RawMutex = RawMutex;

    unsafe fn wait(&self, mutex: &RawMutex, _guard: &mut lock_api::GuardSend) {
        // SAFETY: the caller holds `mutex`.
        unsafe { self.wait_raw(mutex, None) };
    }

    fn notify_one(&self) -> bool {
        self.notify_one()
    }

    fn notify_all(&self) -> usize {
        self.notify_all()
    }
}

// SAFETY: as for `RawCondvar`; the timed wait differs only in its deadline.
#[cfg(not(loom))]
unsafe impl lock_api::RawCondvarTimed for RawCondvar {
    fn checked_duration_to_instant(timeout: &std::time::Duration) -> Option<Instant> {
        futex::deadline_after(*timeout)
    }

    unsafe fn wait_until(
        &self,
        mutex: &RawMutex,
        _guard: &mut lock_api::GuardSend,
        deadline: &Instant,
    ) -> bool {
        // SAFETY: the caller holds `mutex`.
        let notified = unsafe { self.wait_raw(mutex, Some(*deadline)) };
        // Report a timeout only if nobody notified us and the deadline has really passed.
        !notified && futex::deadline_passed(Some(*deadline))
    }
}

/// A condition variable for [`Mutex`](crate::Mutex): `lock_api::Condvar` over [`RawCondvar`].
/// 8 bytes (std's is 4 but wakes every waiter at once on `notify_all`; parking_lot's is 8).
///
/// `wait`, `wait_while`, `wait_for`, `wait_until`, `wait_while_for`, `wait_while_until`,
/// `notify_one`, `notify_all`. Timed waits report whether they timed out. Spurious wake-ups
/// are possible, so `notify_one` returns `false` and `notify_all` returns `0`.
///
/// ```
/// use atomsync::{Condvar, Mutex};
/// use std::sync::Arc;
///
/// let pair = Arc::new((Mutex::new(false), Condvar::new()));
/// let pair2 = Arc::clone(&pair);
/// std::thread::spawn(move || {
///     *pair2.0.lock() = true;
///     pair2.1.notify_one();
/// });
/// let mut ready = pair.0.lock();
/// pair.1.wait_while(&mut ready, |ready| !*ready);
/// assert!(*ready);
/// ```
#[cfg(not(loom))]
pub type Condvar = lock_api::Condvar<RawCondvar>;

/// Whether a timed wait on a [`Condvar`] timed out.
///
/// ```
/// use atomsync::{Condvar, Mutex, WaitTimeoutResult};
/// use std::time::Duration;
/// let (mutex, condvar) = (Mutex::new(()), Condvar::new());
/// let result: WaitTimeoutResult = condvar.wait_for(&mut mutex.lock(), Duration::from_millis(1));
/// assert!(result.timed_out());
/// ```
#[cfg(not(loom))]
pub type WaitTimeoutResult = lock_api::WaitTimeoutResult;
