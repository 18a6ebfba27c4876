//! The only code that talks to the operating system: sleep on a 32-bit word, wake sleepers.
//!
//! ```text
//! wait(word, expected, deadline)  sleeps while *word == expected (checked atomically by the
//!                                 kernel against concurrent wakes); says whether it slept and
//!                                 was woken, returned without a wake (value mismatch, signal),
//!                                 or timed out
//! wake_one(word) -> bool          wakes one sleeper; true if one was woken (Linux)
//! wake_up_to(word, n) -> bool     wakes at most `n` sleepers; true if one was woken (Linux)
//! wake_all(word) -> bool          wakes every sleeper; true if one was woken (Linux)
//! requeue(from, expected, to)     Linux: moves every sleeper of `from` to `to` without waking it
//! ```
//!
//! * **Linux**: the raw `futex(2)` syscall, always `FUTEX_PRIVATE_FLAG`. Timed waits use
//!   `FUTEX_WAIT_BITSET` with an *absolute* `CLOCK_MONOTONIC` deadline, so a retry after a
//!   spurious return does not stretch the wait. `EINTR`/`EAGAIN` are ordinary returns. A deadline
//!   too far away for a `timespec` is no deadline (so `Duration::MAX` means "forever").
//! * **Other platforms**: `atomic-wait` (futex, `WaitOnAddress`, `__ulock`) for untimed waits.
//!   Timed waits fall back to polling the word with short sleeps (at most 1 ms apart): correct,
//!   but slower to notice a wake. `wake_one` cannot tell whether it woke anyone and reports
//!   `true`. `requeue` does not exist there; the condvar wakes everyone instead.
//! * **`cfg(loom)`**: a *blocking* model. A per-execution table of sleepers (keyed by the word's
//!   address) sits behind a loom `Mutex`; `wait` checks the value under that lock and blocks on
//!   a loom `Condvar` until a `wake_*` removes it from the table. A missing wake-up therefore
//!   leaves a thread blocked forever, which loom reports as a deadlock.
//!
//!   **Time under loom** is one event: the *clock fires* ([`futex_model_expire_deadlines`],
//!   called by a model's "timer" thread). Before it, no deadline has passed; from it on, every
//!   deadline has. A timed `wait` blocks until it is woken *or* the clock fires, and
//!   [`deadline_passed`] reads the same clock, so loom explores every place the timeout can
//!   land: before a waiter sleeps, while it sleeps, and just after a wake was spent on it.
//!   A model without a timer thread never times out (a far deadline behaves as none).

use crate::shim::AtomicU32;
use crate::stats::Primitive;
use std::time::{Duration, Instant};

#[cfg(all(target_os = "linux", not(loom)))]
mod imp {
    use super::{AtomicU32, Wait};
    use std::time::Instant;

    /// `CLOCK_MONOTONIC` now: the clock `Instant` reads on Linux.
    pub(super) fn monotonic_now() -> libc::timespec {
        let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `now` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
        now
    }

    /// The absolute `CLOCK_MONOTONIC` time of `deadline`, or `None` if it does not fit.
    ///
    /// `Instant` is `CLOCK_MONOTONIC` on Linux but does not expose its `timespec`, so we add the
    /// remaining duration to a fresh clock reading. The clock is read *after* `Instant::now()`,
    /// so the result is never earlier than `deadline`.
    pub(super) fn to_timespec(deadline: Instant) -> Option<libc::timespec> {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let now = monotonic_now();
        let mut sec = now.tv_sec.checked_add(remaining.as_secs().try_into().ok()?)?;
        let mut nsec = now.tv_nsec + remaining.subsec_nanos() as libc::c_long;
        if nsec >= 1_000_000_000 {
            nsec -= 1_000_000_000;
            sec = sec.checked_add(1)?;
        }
        Some(libc::timespec { tv_sec: sec, tv_nsec: nsec })
    }

    pub(crate) fn wait(word: &AtomicU32, expected: u32, deadline: Option<Instant>) -> Wait {
        let timespec = deadline.and_then(to_timespec);
        let timeout_ptr =
            timespec.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: `word` is a live, aligned 32-bit atomic for the whole call; the timeout
        // pointer is null or points to `timespec`, which outlives the call. FUTEX_WAIT_BITSET
        // with MATCH_ANY behaves as FUTEX_WAIT but takes an absolute CLOCK_MONOTONIC deadline.
        let result = unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                libc::FUTEX_WAIT_BITSET | libc::FUTEX_PRIVATE_FLAG,
                expected,
                timeout_ptr,
                std::ptr::null::<u32>(),
                libc::FUTEX_BITSET_MATCH_ANY,
            )
        };
        if result == 0 {
            // Woken (or, rarely, a stale wake meant for an earlier user of this address).
            return Wait::Woken;
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::ETIMEDOUT) => Wait::TimedOut,
            // EAGAIN: the value differed; EINTR: a signal.
            _ => Wait::Returned,
        }
    }

    fn wake(word: &AtomicU32, count: i32) -> i64 {
        // SAFETY: `word` is a live, aligned 32-bit atomic; FUTEX_WAKE only reads its address.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
                count,
            )
        }
    }

    pub(crate) fn wake_one(word: &AtomicU32) -> bool {
        wake(word, 1) > 0
    }

    pub(crate) fn wake_up_to(word: &AtomicU32, count: u32) -> bool {
        wake(word, count.min(i32::MAX as u32) as i32) > 0
    }

    pub(crate) fn wake_all(word: &AtomicU32) -> bool {
        wake(word, i32::MAX) > 0
    }

    pub(crate) fn requeue(from: &AtomicU32, expected: u32, to: &AtomicU32) -> Option<usize> {
        // SAFETY: both words are live, aligned 32-bit atomics. For FUTEX_CMP_REQUEUE the
        // fourth argument is not a pointer but the maximum number to requeue (val2).
        let result = unsafe {
            libc::syscall(
                libc::SYS_futex,
                from.as_ptr(),
                libc::FUTEX_CMP_REQUEUE | libc::FUTEX_PRIVATE_FLAG,
                0,                 // wake none
                i32::MAX as usize, // requeue all
                to.as_ptr(),
                expected,
            )
        };
        // -1/EAGAIN: `*from != expected`.
        usize::try_from(result).ok()
    }
}

#[cfg(all(not(target_os = "linux"), not(loom)))]
mod imp {
    use super::{AtomicU32, Wait};
    use std::time::{Duration, Instant};

    pub(crate) fn wait(word: &AtomicU32, expected: u32, deadline: Option<Instant>) -> Wait {
        match deadline {
            None => {
                // atomic-wait cannot tell a wake from a value mismatch; report the stronger.
                atomic_wait::wait(word, expected);
                Wait::Woken
            }
            Some(deadline) => {
                // Documented fallback: poll with short sleeps until the value changes.
                // Relaxed: the caller re-reads the word with its own ordering afterwards.
                while word.load(std::sync::atomic::Ordering::Relaxed) == expected {
                    let now = Instant::now();
                    if now >= deadline {
                        return Wait::TimedOut;
                    }
                    std::thread::sleep((deadline - now).min(Duration::from_millis(1)));
                }
                Wait::Woken
            }
        }
    }

    pub(crate) fn wake_one(word: &AtomicU32) -> bool {
        atomic_wait::wake_one(word);
        true
    }

    pub(crate) fn wake_up_to(word: &AtomicU32, count: u32) -> bool {
        for _ in 0..count {
            atomic_wait::wake_one(word);
        }
        true
    }

    pub(crate) fn wake_all(word: &AtomicU32) -> bool {
        atomic_wait::wake_all(word);
        true
    }
}

#[cfg(loom)]
mod imp {
    use super::{AtomicU32, Wait};
    use loom::sync::{Condvar, Mutex};
    use std::sync::atomic::Ordering::SeqCst;
    use std::time::Instant;

    /// Sleepers of the current loom execution: (address of the word, sleeper id).
    #[derive(Default)]
    struct Table {
        next_id: usize,
        sleepers: Vec<(usize, usize)>,
        /// Test hook only (see `model_stats`): sleeps begun and sleepers requeued so far.
        sleeps: usize,
        requeued: usize,
        /// The model's clock has fired: every deadline has passed.
        expired: bool,
        /// Test hook (see `model_cannot_count`): behave as the non-Linux fallback does.
        cannot_count: bool,
    }

    loom::lazy_static! {
        static ref TABLE: (Mutex<Table>, Condvar) = (Mutex::new(Table::default()), Condvar::new());
    }

    fn address(word: &AtomicU32) -> usize {
        word as *const AtomicU32 as usize
    }

    pub(crate) fn wait(word: &AtomicU32, expected: u32, deadline: Option<Instant>) -> Wait {
        let (table, condvar) = &*TABLE;
        let mut guard = table.lock().unwrap();
        // The check happens under the table lock, as the kernel checks under its bucket lock.
        if word.load(SeqCst) != expected {
            // The fallback cannot tell this from a wake (atomic-wait; the timed poll).
            return if guard.cannot_count { Wait::Woken } else { Wait::Returned };
        }
        let timed = deadline.is_some();
        if timed && guard.expired {
            return Wait::TimedOut;
        }
        let id = guard.next_id;
        guard.next_id += 1;
        guard.sleepers.push((address(word), id));
        guard.sleeps += 1;
        loop {
            let Some(index) = guard.sleepers.iter().position(|&(_, sleeper)| sleeper == id) else {
                // A wake removed us: as the kernel does, a wake wins over a timeout that
                // fired at the same time.
                return Wait::Woken;
            };
            if timed && guard.expired {
                guard.sleepers.remove(index);
                return Wait::TimedOut;
            }
            guard = condvar.wait(guard).unwrap();
        }
    }

    pub(crate) fn deadline_passed(deadline: Option<Instant>) -> bool {
        deadline.is_some() && TABLE.0.lock().unwrap().expired
    }

    pub(crate) fn expire_deadlines() {
        let (table, condvar) = &*TABLE;
        table.lock().unwrap().expired = true;
        condvar.notify_all();
    }

    pub(crate) fn wake_one(word: &AtomicU32) -> bool {
        wake_up_to(word, 1)
    }

    /// Wakes the `count` longest sleepers on `word` (the kernel wakes in no promised order;
    /// first come is one order it may pick).
    pub(crate) fn wake_up_to(word: &AtomicU32, count: u32) -> bool {
        let (table, condvar) = &*TABLE;
        let mut guard = table.lock().unwrap();
        let at = address(word);
        let mut woken = 0;
        while woken < count {
            let Some(index) = guard.sleepers.iter().position(|&(address, _)| address == at) else {
                break;
            };
            guard.sleepers.remove(index);
            woken += 1;
        }
        if woken > 0 {
            condvar.notify_all();
            return true;
        }
        // The fallback's `wake_one` always says it woke somebody.
        guard.cannot_count
    }

    pub(crate) fn wake_all(word: &AtomicU32) -> bool {
        let (table, condvar) = &*TABLE;
        let mut guard = table.lock().unwrap();
        let at = address(word);
        let before = guard.sleepers.len();
        guard.sleepers.retain(|&(address, _)| address != at);
        condvar.notify_all();
        guard.sleepers.len() < before
    }

    pub(crate) fn requeue(from: &AtomicU32, expected: u32, to: &AtomicU32) -> Option<usize> {
        let (table, _) = &*TABLE;
        let mut guard = table.lock().unwrap();
        if from.load(SeqCst) != expected {
            return None;
        }
        let (from, to) = (address(from), address(to));
        let mut moved = 0;
        for sleeper in guard.sleepers.iter_mut().filter(|(address, _)| *address == from) {
            sleeper.0 = to;
            moved += 1;
        }
        guard.requeued += moved;
        Some(moved)
    }

    pub(crate) fn model_cannot_count() {
        TABLE.0.lock().unwrap().cannot_count = true;
    }

    pub(crate) fn model_stats() -> super::FutexModelStats {
        let (table, _) = &*TABLE;
        let guard = table.lock().unwrap();
        super::FutexModelStats {
            sleeping: guard.sleepers.len(),
            sleeps: guard.sleeps,
            requeued: guard.requeued,
        }
    }
}

/// Test hook, loom only: what the futex model has seen in the *current* loom execution (the
/// table is a loom `lazy_static`, so it starts empty in every execution). The loom models in
/// `loom-tests/` use it to assert that a contended path really slept or requeued, and to wait
/// until a thread is asleep before releasing a lock. Not part of the API.
#[cfg(loom)]
#[doc(hidden)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FutexModelStats {
    /// Threads asleep in `wait` right now (on any word).
    pub sleeping: usize,
    /// Calls of `wait` that went to sleep (the value matched) so far.
    pub sleeps: usize,
    /// Sleepers moved by `requeue` so far.
    pub requeued: usize,
}

/// Test hook, loom only: a snapshot of [`FutexModelStats`] for the current loom execution.
#[cfg(loom)]
#[doc(hidden)]
pub fn futex_model_stats() -> FutexModelStats {
    imp::model_stats()
}

/// Test hook, loom only: the model's clock fires, so every deadline has passed from now on:
/// timed sleepers wake with `TimedOut` and [`deadline_passed`] says true. A model that wants
/// timeouts explored spawns a "timer" thread that calls this once; loom then tries it at every
/// point of the other threads' runs.
#[cfg(loom)]
#[doc(hidden)]
pub fn futex_model_expire_deadlines() {
    imp::expire_deadlines()
}

/// Test hook, loom only: from now on (in the current execution) the model behaves as the
/// non-Linux fallback does where it cannot tell what happened: `wake_one` reports that it woke
/// somebody even when nobody slept, and `wait` reports `Woken` when it returns because the
/// value differed. Models of code that trusts `wake_one`'s answer call it first to check that
/// the code survives a platform where that answer is always `true`.
#[cfg(loom)]
#[doc(hidden)]
pub fn futex_model_wake_one_cannot_count() {
    imp::model_cannot_count()
}

/// Has `deadline` passed? `None` never passes. Under loom: has the model's clock fired?
#[inline]
pub(crate) fn deadline_passed(deadline: Option<Instant>) -> bool {
    #[cfg(not(loom))]
    {
        deadline.is_some_and(|deadline| Instant::now() >= deadline)
    }
    #[cfg(loom)]
    {
        imp::deadline_passed(deadline)
    }
}

/// The deadline `timeout` from now; `None` (no deadline) if it cannot be represented, so
/// `Duration::MAX` waits forever.
#[inline]
pub(crate) fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// How a [`wait`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wait {
    /// The thread slept and a wake ended the sleep (rarely, a stale wake-up; elsewhere than
    /// Linux, also any return the platform cannot tell apart).
    Woken,
    /// It returned without being woken: the value differed, or a signal interrupted it.
    Returned,
    /// The deadline passed.
    TimedOut,
}

/// Sleeps while `*word == expected`, until woken, interrupted, or `deadline`. Callers must
/// re-read the word: every outcome can be spurious except `TimedOut`. `by`: the primitive
/// the wait is counted for (feature `stats`; unused without it).
#[inline]
#[cfg_attr(not(feature = "stats"), allow(unused_variables))]
pub(crate) fn wait(
    word: &AtomicU32,
    expected: u32,
    deadline: Option<Instant>,
    by: Primitive,
) -> Wait {
    stat!(waiting(by, word));
    let wait = imp::wait(word, expected, deadline);
    stat!(waited(by, word, wait == Wait::Woken, wait == Wait::Returned));
    wait
}

/// Whether `wake_one`/`wake_all` really know if they woke anyone (Linux, and the loom model).
/// Where false, they always report a wake: code that must act when *nobody* woke (take back a
/// hand-off, clear a stale flag) cannot rely on their answer and must assume nobody did.
pub(crate) const WAKES_ARE_COUNTED: bool = cfg!(any(target_os = "linux", loom));

/// Wakes one thread sleeping on `word`. True if a thread was woken (always true where the
/// platform cannot tell). `by`: as for [`wait`].
#[inline]
#[cfg_attr(not(feature = "stats"), allow(unused_variables))]
pub(crate) fn wake_one(word: &AtomicU32, by: Primitive) -> bool {
    counted_wake(imp::wake_one(word), by)
}

/// Wakes at most `count` threads sleeping on `word`, in one call. True if a thread was woken
/// (always true where the platform cannot tell). `by`: as for [`wait`].
#[inline]
#[cfg_attr(not(feature = "stats"), allow(unused_variables))]
pub(crate) fn wake_up_to(word: &AtomicU32, count: u32, by: Primitive) -> bool {
    counted_wake(imp::wake_up_to(word, count), by)
}

/// Wakes every thread sleeping on `word`. True if a thread was woken (always true where the
/// platform cannot tell). `by`: as for [`wait`].
#[inline]
#[cfg_attr(not(feature = "stats"), allow(unused_variables))]
pub(crate) fn wake_all(word: &AtomicU32, by: Primitive) -> bool {
    counted_wake(imp::wake_all(word), by)
}

/// A wake call's answer, counted in the profile (feature `stats`) as one wake by `by`.
#[inline]
#[cfg_attr(not(feature = "stats"), allow(unused_variables))]
fn counted_wake(woke: bool, by: Primitive) -> bool {
    stat!(woke(by, woke, WAKES_ARE_COUNTED));
    woke
}

/// If `*from == expected`, moves every thread sleeping on `from` to sleep on `to` instead,
/// waking none, and returns how many moved; `None` if the value differed. `by`: as for
/// [`wait`] (a requeue counts as a wake; one that moved nobody as an empty one).
#[cfg(any(target_os = "linux", loom))]
#[inline]
#[cfg_attr(not(feature = "stats"), allow(unused_variables))]
pub(crate) fn requeue(
    from: &AtomicU32,
    expected: u32,
    to: &AtomicU32,
    by: Primitive,
) -> Option<usize> {
    let moved = imp::requeue(from, expected, to);
    stat!(by => FutexWake);
    stat!(by => EmptyWake, moved.unwrap_or(0) == 0);
    moved
}

#[cfg(test)]
#[cfg(all(target_os = "linux", not(loom)))]
mod tests {
    use super::imp::{monotonic_now, to_timespec};
    use std::time::{Duration, Instant};

    fn plus(time: libc::timespec, duration: Duration) -> (i64, i64) {
        let nanos = time.tv_nsec + i64::from(duration.subsec_nanos());
        (time.tv_sec + duration.as_secs() as i64 + nanos / 1_000_000_000, nanos % 1_000_000_000)
    }

    /// The absolute deadline handed to the kernel is never earlier than the `Instant` one (a
    /// timed wait never ends early), and not later than the time it took to compute it; the
    /// sub-second parts that carry into the seconds included.
    #[test]
    fn the_kernel_deadline_is_the_instant_deadline() {
        let nearly_a_second = Duration::from_nanos(999_999_999);
        for remaining in [Duration::ZERO, Duration::from_millis(30), nearly_a_second] {
            for _ in 0..100 {
                let before = monotonic_now();
                let timespec = to_timespec(Instant::now() + remaining).unwrap();
                let after = monotonic_now();
                let deadline = (timespec.tv_sec, timespec.tv_nsec);
                assert!((0..1_000_000_000).contains(&timespec.tv_nsec), "{deadline:?}");
                assert!(deadline >= plus(before, remaining), "{deadline:?} for {remaining:?}");
                assert!(deadline <= plus(after, remaining), "{deadline:?} for {remaining:?}");
            }
        }
    }
}
