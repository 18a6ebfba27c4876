//! A contention profile (feature `stats`): how often each primitive took its fast path, spun,
//! yielded, slept in the futex, woke sleepers (and how many of those wakes were futile),
//! handed over and timed out, summed over every thread of the process.
//!
// The example only with the feature: without it this module is private and has no API, but
// rustdoc would still run its module doc's example.
#![cfg_attr(
    feature = "stats",
    doc = r#"
```
use atomsync::{Mutex, stats};

stats::reset();
let counter = Mutex::new(0);
*counter.lock() += 1;
let profile = stats::snapshot();
assert_eq!(profile.mutex.fast, 1);
assert_eq!(profile.mutex.futex_waits, 0);
println!("{profile}"); // a table, one row per primitive
```
"#
)]
//!
//! Go's mutex profile says *where* goroutines waited and parking_lot's deadlock detector says
//! *who* waits for whom; this says what the waiting cost in system calls and CPU: a futex wait
//! or wake, or a `sched_yield`, is a system call; a wake that woke nobody, a wait that returned
//! at once and a wake-up after which the thread went back to sleep are the futile ones.
//! `examples/compare.rs --profile` prints the counts per 1 000 operations beside its
//! throughput tables, and `docs/benchmarks.md` ("Contention profile") reads one run.
//!
//! **Cost.** Off (the default), the hooks are macro invocations that expand to nothing: the
//! code is the same instruction for instruction (`docs/benchmarks.md` has the callgrind
//! figures). On, every counted event is a thread-local load and an add to a counter that only
//! its own thread writes (a plain load and store of a relaxed atomic, no locked instruction,
//! no cache line shared with another thread), so counting creates no contention of its own;
//! an uncontended lock + unlock costs a few instructions more.
//!
//! **How it counts.** Each thread gets a block of counters on its first event, registered in
//! a global list. [`snapshot`] sums the blocks; a thread that exits adds its block to a global
//! total and hands the block to the next new thread, so its counts stay in the totals and the
//! memory stays bounded by the number of threads alive at once. A snapshot taken while other
//! threads run may miss their last few events; one taken after they were joined is exact.
//! [`reset`] remembers the current totals, and later snapshots count from there (nobody writes
//! another thread's counters, so a reset races with nothing).
//!
//! **Under loom** (`--cfg loom`) the feature compiles and counts, with std's atomics: the
//! counters are outside the model, and loom does not explore them.
//!
//! What increments each counter is on the fields of [`Counters`]; "slept" means a call of the
//! futex wait (`FUTEX_WAIT`), "woke" a call of the futex wake (`FUTEX_WAKE`) or requeue.

#[cfg(feature = "stats")]
mod counting;

#[cfg(feature = "stats")]
use counting::registry;
#[cfg(feature = "stats")]
pub(crate) use counting::{record, waited, waiting, woke};
#[cfg(feature = "stats")]
use std::fmt;

/// Which primitive an event is counted for. Always compiled: the futex layer and the spin
/// schedule take it as an argument, which is dead (and optimized out) without the feature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Primitive {
    Mutex,
    RwLock,
    Condvar,
    Semaphore,
    ThreadPool,
}

/// Counts `Event::$event` (`n` times, default once) for `Primitive::$primitive`, or for the
/// primitive in the expression `$by` (`stat!(by => Spin)`). Expands to nothing without the
/// `stats` feature, so a hook adds no code, no branch and nothing for cargo-mutants to mutate
/// (it does not look inside macro invocations).
///
/// `stat!(waiting(by, word))`, `stat!(waited(by, word, woken, returned))` and
/// `stat!(woke(by, woke, counted))` are the futex layer's hooks around a wait and after a wake.
#[cfg(feature = "stats")]
macro_rules! stat {
    ($hook:ident($($argument:expr),*)) => {
        $crate::stats::$hook($($argument),*)
    };
    ($primitive:ident, $event:ident $(, $n:expr)?) => {
        stat!($crate::stats::Primitive::$primitive => $event $(, $n)?)
    };
    ($by:expr => $event:ident) => {
        stat!($by => $event, 1u64)
    };
    ($by:expr => $event:ident, $n:expr) => {
        $crate::stats::record($by, $crate::stats::Event::$event, ($n) as u64)
    };
}

/// Without the `stats` feature: nothing.
#[cfg(not(feature = "stats"))]
macro_rules! stat {
    ($($tokens:tt)*) => {};
}

/// What happened (one counter of [`Counters`] each; see there).
#[cfg(feature = "stats")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    Fast,
    Contended,
    HandOff,
    Timeout,
    Spin,
    Yield,
    BackOff,
    FutexWait,
    FutileWait,
    FutileWakeup,
    FutexWake,
    EmptyWake,
    Job,
    Steal,
}

#[cfg(feature = "stats")]
const PRIMITIVES: usize = 5;
#[cfg(feature = "stats")]
const EVENTS: usize = 14;

/// The counts of one primitive, summed over all threads since the last [`reset`] (or the
/// start of the process). Which primitive's row an event lands in is the primitive whose code
/// ran it: a condvar wait's re-locking of its mutex counts for the [`Mutex`](crate::Mutex),
/// its sleep on the condvar for the [`Condvar`](crate::Condvar). Counters that do not apply to
/// a primitive stay 0 (the table prints `-`).
///
/// A "call of the futex wait" is one `FUTEX_WAIT` system call on Linux, a "wake call" one
/// `FUTEX_WAKE` (or `FUTEX_CMP_REQUEUE`); `yields` are `sched_yield` calls and `back_offs`
/// `nanosleep` calls. So [`syscalls`](Self::syscalls) is the primitive's system calls, but for
/// the two `prctl` calls around each back-off on Linux (see `back_offs`).
///
/// ```
/// let counters = atomsync::stats::snapshot().mutex;
/// assert!(counters.futile_waits <= counters.futex_waits);
/// ```
#[cfg(feature = "stats")]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counters {
    /// Acquisitions that succeeded on the fast path, without entering the slow path: the first
    /// CAS of `lock`, `try_lock`, `try_lock_for/_until`, the re-lock after a condvar wait
    /// (Mutex); of a read, upgradable or write lock, timed or not, or of `try_upgrade`/`upgrade`
    /// (RwLock); of an `acquire*`/`try_acquire*` (Semaphore). Condvar: `notify_one`/`notify_all`
    /// calls that found no waiter (no system call). Pool: not used.
    pub fast: u64,
    /// Calls that entered the slow path (they spin, sleep, or time out there): Mutex, RwLock
    /// (a read, upgradable or write lock, or an upgrade, that could not be had at once),
    /// Semaphore. Condvar: waits (calls of `wait*` whose deadline had not passed on entry).
    /// Pool: not used. `fast + contended - timeouts` is the number of blocking acquisitions.
    pub contended: u64,
    /// Mutex: a sleeper that claimed the lock handed to it (`unlock_fair`, or eventual
    /// fairness after 0.5 ms). RwLock: a woken reader that claimed the read lock a write
    /// unlock handed to the waiting readers. Semaphore: a head that took the permits it had
    /// reserved (after 0.5 ms). Condvar: sleepers moved onto the mutex by `notify_all` (requeue).
    pub handoffs: u64,
    /// Timed calls that gave up: `try_lock_for/_until` (Mutex, RwLock, `try_upgrade_for`),
    /// `acquire*_for/_until` returning `TimedOut` (Semaphore), a `wait_for/_until` that
    /// reported a timeout (Condvar), `JoinHandle::join_timeout` returning the handle or
    /// `shutdown_timeout` returning false (Pool).
    pub timeouts: u64,
    /// Busy-wait rounds of the spin schedule before sleeping (each round is 2, 4 or 8
    /// `spin_loop` hints; a contender runs at most 3 per wait). Condvar: the rounds of a
    /// waiter watching for its notify while at most two threads wait. Pool: the same rounds of
    /// an idle worker before it sleeps, of a worker waiting for a latch, and of `join` on a
    /// handle.
    pub spins: u64,
    /// `yield_now` rounds of the spin schedule (each a `sched_yield` system call; at most 7
    /// per wait for a lock, 2 for the mutex and an RwLock writer behind a writer, 61 for an
    /// idle pool worker).
    pub yields: u64,
    /// Mutex, and RwLock writers behind a writer: back-off rounds of the spin schedule, after
    /// the yields (each a 15 µs sleep, a `nanosleep` system call, which on Linux two `prctl`
    /// calls around it run at 1 µs of timer slack; at most 5 per wait), in which the contender
    /// is registered nowhere, so no unlock wakes it.
    pub back_offs: u64,
    /// Calls of the futex wait (each a system call): the thread went to sleep or tried to.
    pub futex_waits: u64,
    /// Futex waits that returned without sleeping: the word had changed before the kernel
    /// looked (`EAGAIN`), or a signal came (`EINTR`). Linux only (elsewhere they read as woken).
    /// Each is a system call that bought nothing; most follow a wake that found nobody asleep
    /// (see `empty_wakes`).
    pub futile_waits: u64,
    /// Futile wake-ups, the sleeper's side: a thread whose futex wait was ended by a wake and
    /// that then called the futex wait again on the same word before the operation it was
    /// waiting in ended (it lost the lock to a running thread, found the permits gone, the
    /// readers still in, or no job, and went back to sleep). Counted once per such wake-up,
    /// when the next wait begins. A thread's operation ends when it next enters a slow path
    /// (`contended`), or for the pool when it runs a job.
    pub futile_wakeups: u64,
    /// Calls of the futex wake (each a system call): wake one, wake all, and the condvar's
    /// requeue.
    pub futex_wakes: u64,
    /// Futile wakes, the waker's side: wake calls that woke nobody (no thread was asleep on the
    /// word yet, or any more), and requeues that moved nobody. Linux only: elsewhere the
    /// platform cannot tell, and this stays 0.
    pub empty_wakes: u64,
    /// Pool: jobs run (tasks, `join` halves and scoped tasks taken from a queue, by a worker
    /// or by a thread helping with its own scope or running work after shutdown).
    pub jobs: u64,
    /// Pool: jobs a worker stole from another worker's deque (not counted: jobs taken from the
    /// shared injector or a scope's queue).
    pub steals: u64,
}

/// The names of [`Counters`]' fields in the table, in their order (that of `Event`).
#[cfg(feature = "stats")]
const FIELD_NAMES: [&str; EVENTS] = [
    "fast",
    "contended",
    "hand-offs",
    "timeouts",
    "spins",
    "yields",
    "back-offs",
    "futex waits",
    "futile waits",
    "futile wake-ups",
    "futex wakes",
    "empty wakes",
    "jobs",
    "steals",
];

#[cfg(feature = "stats")]
impl Counters {
    /// The system calls counted: futex waits, futex wakes, yields, back-off sleeps (not the
    /// back-offs' `prctl` calls).
    ///
    /// ```
    /// let mutex = atomsync::stats::snapshot().mutex;
    /// assert_eq!(
    ///     mutex.syscalls(),
    ///     mutex.futex_waits + mutex.futex_wakes + mutex.yields + mutex.back_offs
    /// );
    /// ```
    pub fn syscalls(&self) -> u64 {
        self.futex_waits + self.futex_wakes + self.yields + self.back_offs
    }

    /// Every counter with its name (the column headings of the table), in the order of the
    /// fields.
    ///
    /// ```
    /// let fields = atomsync::stats::snapshot().rwlock.fields();
    /// assert_eq!(fields[0].0, "fast");
    /// ```
    pub fn fields(&self) -> [(&'static str, u64); EVENTS] {
        let values = self.to_array();
        std::array::from_fn(|field| (FIELD_NAMES[field], values[field]))
    }

    fn to_array(self) -> [u64; EVENTS] {
        [
            self.fast,
            self.contended,
            self.handoffs,
            self.timeouts,
            self.spins,
            self.yields,
            self.back_offs,
            self.futex_waits,
            self.futile_waits,
            self.futile_wakeups,
            self.futex_wakes,
            self.empty_wakes,
            self.jobs,
            self.steals,
        ]
    }

    fn from_array(counts: &[u64; EVENTS]) -> Self {
        let count = |event: Event| counts[event as usize];
        Self {
            fast: count(Event::Fast),
            contended: count(Event::Contended),
            handoffs: count(Event::HandOff),
            timeouts: count(Event::Timeout),
            spins: count(Event::Spin),
            yields: count(Event::Yield),
            back_offs: count(Event::BackOff),
            futex_waits: count(Event::FutexWait),
            futile_waits: count(Event::FutileWait),
            futile_wakeups: count(Event::FutileWakeup),
            futex_wakes: count(Event::FutexWake),
            empty_wakes: count(Event::EmptyWake),
            jobs: count(Event::Job),
            steals: count(Event::Steal),
        }
    }
}

/// Counter by counter: the sum of two runs' counts.
///
/// ```
/// let profile = atomsync::stats::snapshot();
/// assert_eq!((profile.mutex + profile.mutex).fast, 2 * profile.mutex.fast);
/// ```
#[cfg(feature = "stats")]
impl std::ops::Add for Counters {
    type Output = Counters;

    fn add(self, other: Counters) -> Counters {
        let (mut sum, other) = (self.to_array(), other.to_array());
        sum.iter_mut().zip(other).for_each(|(sum, other)| *sum = sum.wrapping_add(other));
        Counters::from_array(&sum)
    }
}

/// Counter by counter: what happened between an earlier snapshot (`other`) and this one
/// (saturating at 0, for snapshots given in the wrong order or across a [`reset`]).
///
/// ```
/// use atomsync::stats;
///
/// let before = stats::snapshot();
/// drop(atomsync::Mutex::new(()).lock());
/// assert!((stats::snapshot() - before).mutex.fast >= 1);
/// ```
#[cfg(feature = "stats")]
impl std::ops::Sub for Counters {
    type Output = Counters;

    fn sub(self, other: Counters) -> Counters {
        let (mut difference, other) = (self.to_array(), other.to_array());
        difference
            .iter_mut()
            .zip(other)
            .for_each(|(value, other)| *value = value.saturating_sub(other));
        Counters::from_array(&difference)
    }
}

/// One [`Counters`] per primitive: what [`snapshot`] returns. `Display` prints it as a
/// Markdown table (one row per primitive, `-` for counters that do not apply).
///
/// ```
/// let profile = atomsync::stats::snapshot();
/// for (name, counters) in profile.rows() {
///     println!("{name}: {} system calls", counters.syscalls());
/// }
/// ```
#[cfg(feature = "stats")]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Profile {
    /// [`Mutex`](crate::Mutex) and [`RawMutex`](crate::RawMutex) (and the lock_api 0.4 ones).
    pub mutex: Counters,
    /// [`RwLock`](crate::RwLock) and [`RawRwLock`](crate::RawRwLock).
    pub rwlock: Counters,
    /// [`Condvar`](crate::Condvar) and [`RawCondvar`](crate::RawCondvar).
    pub condvar: Counters,
    /// [`Semaphore`](crate::Semaphore).
    pub semaphore: Counters,
    /// [`ThreadPool`](crate::ThreadPool): its workers, the threads that wait for it, and its
    /// `JoinHandle`s.
    pub pool: Counters,
}

#[cfg(feature = "stats")]
impl Profile {
    /// The five rows with their names, in the order of the fields.
    ///
    /// ```
    /// let profile = atomsync::stats::snapshot();
    /// assert_eq!(profile.rows()[0], ("Mutex", profile.mutex));
    /// ```
    pub fn rows(&self) -> [(&'static str, Counters); PRIMITIVES] {
        let names = ["Mutex", "RwLock", "Condvar", "Semaphore", "ThreadPool"];
        let counters = [self.mutex, self.rwlock, self.condvar, self.semaphore, self.pool];
        std::array::from_fn(|row| (names[row], counters[row]))
    }
}

#[cfg(feature = "stats")]
impl Profile {
    /// Applies `op` to each primitive's counters of `self` and `other`.
    fn zip(self, other: Profile, op: impl Fn(Counters, Counters) -> Counters) -> Profile {
        Profile {
            mutex: op(self.mutex, other.mutex),
            rwlock: op(self.rwlock, other.rwlock),
            condvar: op(self.condvar, other.condvar),
            semaphore: op(self.semaphore, other.semaphore),
            pool: op(self.pool, other.pool),
        }
    }
}

/// Primitive by primitive, counter by counter: the sum of two runs' profiles (for example
/// the runs of a benchmark, each between a [`reset`] and a [`snapshot`]).
///
/// ```
/// let profile = atomsync::stats::snapshot();
/// assert_eq!((profile + profile).rwlock.fast, 2 * profile.rwlock.fast);
/// ```
#[cfg(feature = "stats")]
impl std::ops::Add for Profile {
    type Output = Profile;

    fn add(self, other: Profile) -> Profile {
        self.zip(other, |a, b| a + b)
    }
}

/// What happened between an earlier snapshot (`other`) and this one (see [`Counters`]'
/// `Sub`): an alternative to [`reset`] that leaves the totals alone for other readers.
///
/// ```
/// use atomsync::stats;
///
/// let before = stats::snapshot();
/// drop(atomsync::RwLock::new(()).read());
/// assert!((stats::snapshot() - before).rwlock.fast >= 1);
/// ```
#[cfg(feature = "stats")]
impl std::ops::Sub for Profile {
    type Output = Profile;

    fn sub(self, other: Profile) -> Profile {
        self.zip(other, |a, b| a - b)
    }
}

/// Whether counter `field` (an index into [`Counters::fields`]) is counted for the row `row`
/// (an index into [`Profile::rows`]).
#[cfg(feature = "stats")]
fn applies(row: usize, field: usize) -> bool {
    const POOL: usize = Primitive::ThreadPool as usize;
    let pool_only = field == Event::Job as usize || field == Event::Steal as usize;
    let locks_only = field == Event::Fast as usize
        || field == Event::Contended as usize
        || field == Event::HandOff as usize;
    match row {
        POOL => !locks_only,
        _ => !pool_only,
    }
}

#[cfg(feature = "stats")]
impl fmt::Display for Profile {
    /// A Markdown table: one row per primitive, one column per counter.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = Counters::default().fields().map(|(name, _)| name);
        write!(f, "| {:<10} |", "primitive")?;
        for name in names {
            write!(f, " {name:>9} |")?;
        }
        write!(f, "\n|{}|", "-".repeat(12))?;
        for name in names {
            write!(f, "{}:|", "-".repeat(name.len().max(9) + 1))?;
        }
        for (row, (primitive, counters)) in self.rows().iter().enumerate() {
            write!(f, "\n| {primitive:<10} |")?;
            for (field, (name, value)) in counters.fields().iter().enumerate() {
                let width = name.len().max(9);
                if applies(row, field) {
                    write!(f, " {value:>width$} |")?;
                } else {
                    write!(f, " {:>width$} |", "-")?;
                }
            }
        }
        Ok(())
    }
}

/// The counts of every thread since the last [`reset`] (or since the process started).
///
/// Exact for the threads that have been joined (or have otherwise synchronized with the
/// caller); a thread still running may have events in flight.
///
/// ```
/// use atomsync::{Semaphore, stats};
///
/// let before = stats::snapshot().semaphore.fast;
/// let semaphore = Semaphore::new(1);
/// drop(semaphore.acquire().unwrap());
/// assert_eq!(stats::snapshot().semaphore.fast, before + 1);
/// ```
#[cfg(feature = "stats")]
pub fn snapshot() -> Profile {
    let registry = registry();
    let totals = registry.totals();
    let mut counts = [[0; EVENTS]; PRIMITIVES];
    for (primitive, counts) in counts.iter_mut().enumerate() {
        for (event, count) in counts.iter_mut().enumerate() {
            *count = totals[primitive][event].wrapping_sub(registry.baseline[primitive][event]);
        }
    }
    let row = |primitive: Primitive| Counters::from_array(&counts[primitive as usize]);
    Profile {
        mutex: row(Primitive::Mutex),
        rwlock: row(Primitive::RwLock),
        condvar: row(Primitive::Condvar),
        semaphore: row(Primitive::Semaphore),
        pool: row(Primitive::ThreadPool),
    }
}

/// Starts counting from zero: later [`snapshot`]s count only what happens after this call.
///
/// ```
/// use atomsync::stats;
///
/// let mutex = atomsync::Mutex::new(());
/// drop(mutex.lock());
/// stats::reset();
/// assert_eq!(stats::snapshot().mutex.fast, 0);
/// ```
#[cfg(feature = "stats")]
pub fn reset() {
    let mut registry = registry();
    registry.baseline = registry.totals();
}

#[cfg(all(test, feature = "stats"))]
mod tests {
    use super::*;

    #[test]
    fn fields_names_and_events_are_in_one_order() {
        let counts: [u64; EVENTS] = std::array::from_fn(|event| event as u64 + 1);
        let counters = Counters::from_array(&counts);
        assert_eq!(counters.to_array(), counts);
        assert_eq!(counters.fields()[Event::Job as usize], ("jobs", Event::Job as u64 + 1));
        assert_eq!(counters.fields()[Event::FutileWakeup as usize].0, "futile wake-ups");
        assert_eq!((counters.handoffs, counters.back_offs), (3, 7));
        assert_eq!(counters.steals, EVENTS as u64);
    }
}
