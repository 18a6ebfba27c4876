//! A reader-writer lock on one 32-bit state word plus a companion futex word for writers.
//!
//! Readers (and threads waiting to take an upgradable read lock) sleep on `state`; writers and
//! an upgrading thread sleep on `writer_notify`, a sequence number bumped before each wake, so
//! that waking a writer never wakes the readers and the other way round. 8 bytes in all.
//!
//! | bits   | name            | meaning                                                          |
//! |--------|-----------------|------------------------------------------------------------------|
//! | 0..27  | count           | read locks held (the upgradable one included); `MASK` = write-locked |
//! | 27     | HANDOFF         | a write unlock handed the lock to the sleeping readers: one phantom read lock is counted, the first reader to come claims it |
//! | 28     | UPGRADABLE      | an upgradable read lock is held (also counted as a reader)       |
//! | 29     | UPGRADING       | its holder waits in `upgrade` for the other readers to drain     |
//! | 30     | READERS_WAITING | threads sleep (or are about to) on `state`                       |
//! | 31     | WRITERS_WAITING | writers sleep (or are about to) on `writer_notify`; stays set until a woken writer has the lock |
//!
//! ```text
//! read:        count < MAX_READERS, no WRITERS_WAITING/UPGRADING: count += 1 (fast path)
//!              else: claim a HANDOFF | a thread woken from its sleep joins a running read
//!              phase | spin while nobody sleeps | set READERS_WAITING, sleep on state
//! write:       CAS 0 -> MASK (fast path); else take it when count == 0 (re-setting
//!              WRITERS_WAITING if we slept: others may still sleep) | spin while no writer
//!              waits (behind readers: no yields) | set WRITERS_WAITING, sleep on
//!              writer_notify
//! upgradable:  as read, and UPGRADABLE/HANDOFF must be clear; sets UPGRADABLE
//! read unlock: count -= 1; count 0 with WRITERS_WAITING: wake one writer and *keep* the
//!              flag, so no reader enters before that writer's CAS; if no writer was asleep
//!              (or the platform cannot tell), the flag is stale: clear it while the lock
//!              is free and wake the readers; count 1 with UPGRADING: wake the upgrader
//!              (all of writer_notify)
//! write unlock: MASK -> 0 (fast path); readers waiting: HANDOFF (count = 1 phantom,
//!              WRITERS_WAITING kept), wake the readers; writers only: keep
//!              WRITERS_WAITING, wake one (as the read unlock does)
//! upgrade:     count 1 -> MASK; else set UPGRADING (new readers stop), sleep on writer_notify
//! downgrade:   MASK -> 1 (or 1 | UPGRADABLE); clear READERS_WAITING and wake the readers
//! ```
//!
//! **Policy (phase-fair):**
//! - *No writer starvation*: once a writer waits (WRITERS_WAITING) or an upgrade waits
//!   (UPGRADING), new readers wait behind it. Only readers that were *woken from their sleep*
//!   may still join a read phase that is running (count > 0), and each of them once.
//! - *No reader starvation*: a write unlock that finds readers waiting does not free the lock:
//!   it leaves it read-locked by a phantom reader (HANDOFF) and wakes the readers; the first of
//!   them claims the phantom lock, the others join it, and the next writer (the unlocking one
//!   too, if it locks again at once) waits for them all. Alternating or barging writers cannot
//!   lock readers out. If no thread was asleep on `state` after all, the unlocker takes the
//!   phantom lock back and releases it.
//! - *Upgradable read*: shares with readers, excludes writers and other upgradable readers.
//!   `upgrade` sets UPGRADING, which stops new readers (and woken ones), so it cannot be
//!   starved; it takes the write lock when the count drops to 1 (itself).
//! - `downgrade` (write -> read, write -> upgradable) and upgradable -> read are one atomic
//!   step that keeps every writer out, and wake the sleeping readers.
//! - More than `MAX_READERS` (2^27 - 2) read locks at once is a panic, never a wrap-around.
//! - Writers among themselves barge, as in std: a woken writer can lose the lock to a running
//!   one. There is no writer-to-writer hand-off (and `unlock_exclusive_fair` is the plain
//!   unlock), so per-thread fairness among many writers is weaker than the mutex's.
//!
//! **Who clears WRITERS_WAITING.** Only (a) a waker that found no writer asleep (the flag was
//! stale; a writer about to sleep finds `writer_notify` bumped and sets it again), while the
//! lock is free, and (b) a writer that times out, which then wakes *every* writer so the others
//! set it again. So a writer never sleeps on a wake that a timed-out writer swallowed, and a
//! reader never slips in between the wake of a writer and that writer's CAS: once a writer
//! waits, a writer is next (a waiting writer waits for at most one read phase).
//!
//! **Timeouts** (every timed path checks its deadline before spinning, so a passed deadline
//! returns at once): a timed-out reader leaves READERS_WAITING set (harmless: at worst a
//! spurious wake later); reader wakes are wake-alls and a woken reader claims a HANDOFF before
//! it looks at its deadline, so it never swallows a wake. A timed-out writer cannot know
//! whether other writers wait (they are not counted), so it clears WRITERS_WAITING, wakes *all*
//! writers (passing on any wake spent on it; the others set the flag again) and, if the lock is
//! not write-locked, wakes the readers that were blocked behind it. A woken writer that finds
//! the lock free takes it even if its deadline has passed. A timed-out upgrade clears UPGRADING
//! and wakes the readers held back by it; a woken upgrader that finds the count at 1 upgrades.
//!
//! **No poisoning**, as for the [`Mutex`](crate::Mutex): a panic releases the guards it
//! holds during unwinding.

use crate::futex;
use crate::shim::AtomicU32;
use crate::spin::SpinWait;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
#[cfg(not(loom))]
use std::time::Duration;
use std::time::Instant;

const READER: u32 = 1;
const MASK: u32 = (1 << 27) - 1;
const WRITE_LOCKED: u32 = MASK;
const MAX_READERS: u32 = MASK - 1;
const HANDOFF: u32 = 1 << 27;
const UPGRADABLE: u32 = 1 << 28;
const UPGRADING: u32 = 1 << 29;
const READERS_WAITING: u32 = 1 << 30;
const WRITERS_WAITING: u32 = 1 << 31;

#[inline]
fn count(state: u32) -> u32 {
    state & MASK
}

/// May a reader (`upgradable`: an upgradable reader) that has not slept enter in `state`?
#[inline]
fn is_read_lockable(state: u32, upgradable: bool) -> bool {
    count(state) < MAX_READERS
        && state & (WRITERS_WAITING | UPGRADING) == 0
        && !(upgradable && state & (UPGRADABLE | HANDOFF) != 0)
}

/// May a reader that was woken from its sleep enter in `state`? Besides the fresh rule, it may
/// join a running read phase (count > 0) even if a writer waits, but not an upgrade's drain.
#[inline]
fn is_read_lockable_after_wakeup(state: u32, upgradable: bool) -> bool {
    let count = count(state);
    count > 0
        && count < MAX_READERS
        && state & (HANDOFF | UPGRADING) == 0
        && !(upgradable && state & UPGRADABLE != 0)
}

#[cold]
#[inline(never)]
fn too_many_readers() -> ! {
    panic!("atomsync::RwLock: too many read locks held at once (the reader count would overflow)")
}

/// The raw reader-writer lock behind [`RwLock`]: 8 bytes, `const`-constructible.
///
/// Most code wants [`RwLock<T>`](RwLock). `RawRwLock` implements `lock_api`'s `RawRwLock`,
/// `RawRwLockTimed`, `RawRwLockDowngrade`, `RawRwLockUpgrade`, `RawRwLockUpgradeTimed`,
/// `RawRwLockUpgradeDowngrade`, `RawRwLockFair` and `RawRwLockUpgradeFair`; its guard-free methods below
/// (`acquire_shared`/`release_shared`, ...) are what the loom models drive.
///
/// ```
/// use atomsync::RawRwLock;
///
/// let raw = RawRwLock::new();
/// raw.acquire_shared();
/// assert!(raw.try_acquire_shared());
/// assert!(!raw.try_acquire_exclusive());
/// // SAFETY: two read locks are held.
/// unsafe {
///     raw.release_shared();
///     raw.release_shared();
/// }
/// assert!(raw.try_acquire_exclusive());
/// # unsafe { raw.release_exclusive() };
/// ```
#[derive(Debug)]
pub struct RawRwLock {
    state: AtomicU32,
    /// Bumped (Release) before every wake of `writer_notify`; writers and the upgrader sleep
    /// on it with the value they read before re-checking `state`.
    writer_notify: AtomicU32,
}

impl Default for RawRwLock {
    fn default() -> Self {
        Self::new()
    }
}

impl RawRwLock {
    /// A new, unlocked lock.
    ///
    /// ```
    /// static LOCK: atomsync::RawRwLock = atomsync::RawRwLock::new();
    /// assert!(LOCK.try_acquire_shared());
    /// # unsafe { LOCK.release_shared() };
    /// ```
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Self { state: AtomicU32::new(0), writer_notify: AtomicU32::new(0) }
    }

    /// A new, unlocked lock (loom atomics cannot be built in a `const fn`).
    #[cfg(loom)]
    pub fn new() -> Self {
        Self { state: AtomicU32::new(0), writer_notify: AtomicU32::new(0) }
    }

    // ---------------------------------------------------------------- shared (read) locks

    /// Blocks until a read lock is acquired.
    ///
    /// # Panics
    /// If `2^27 - 2` read locks are held already.
    ///
    /// ```
    /// let raw = atomsync::RawRwLock::new();
    /// raw.acquire_shared();
    /// // SAFETY: a read lock is held.
    /// unsafe { raw.release_shared() };
    /// ```
    #[inline]
    pub fn acquire_shared(&self) {
        let state = self.state.load(Relaxed);
        // Acquire: pairs with the Release of the last write unlock (or downgrade), so that
        // writer's critical section happens-before our reads.
        if !(is_read_lockable(state, false)
            && self.state.compare_exchange_weak(state, state + READER, Acquire, Relaxed).is_ok())
        {
            self.read_contended(None, false);
        }
    }

    /// Takes a read lock if that is possible right now without waiting (not write-locked, no
    /// writer or upgrade waiting); never blocks.
    ///
    /// # Panics
    /// If `2^27 - 2` read locks are held already.
    ///
    /// ```
    /// let raw = atomsync::RawRwLock::new();
    /// assert!(raw.try_acquire_exclusive());
    /// assert!(!raw.try_acquire_shared());
    /// # unsafe { raw.release_exclusive() };
    /// ```
    #[inline]
    pub fn try_acquire_shared(&self) -> bool {
        self.try_read(false)
    }

    /// Tries to take a read lock until `deadline` (`None`: forever). False only once the
    /// deadline has passed.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let raw = atomsync::RawRwLock::new();
    /// raw.acquire_exclusive();
    /// assert!(!raw.try_acquire_shared_until(Some(Instant::now() + Duration::from_millis(1))));
    /// # unsafe { raw.release_exclusive() };
    /// ```
    #[inline]
    pub fn try_acquire_shared_until(&self, deadline: Option<Instant>) -> bool {
        self.try_read(false) || self.read_contended(deadline, false)
    }

    /// Releases a read lock; the last reader out wakes a waiting writer (or the upgrader).
    ///
    /// # Safety
    /// The calling context must hold a read lock (not an upgradable one).
    ///
    /// ```
    /// let raw = atomsync::RawRwLock::new();
    /// raw.acquire_shared();
    /// // SAFETY: a read lock is held.
    /// unsafe { raw.release_shared() };
    /// ```
    #[inline]
    pub unsafe fn release_shared(&self) {
        // Release: orders our reads before the next writer's Acquire (its CAS reads this
        // value or a later one in the word's release sequence of read-modify-writes).
        let state = self.state.fetch_sub(READER, Release) - READER;
        debug_assert!(count(state) < MAX_READERS, "release of an unheld read lock");
        if state & (WRITERS_WAITING | UPGRADING) != 0 {
            self.release_shared_slow(state);
        }
    }

    // ---------------------------------------------------------- upgradable read locks

    /// Blocks until an upgradable read lock is acquired: it shares with readers and excludes
    /// writers and other upgradable readers.
    ///
    /// # Panics
    /// If `2^27 - 2` read locks are held already.
    ///
    /// ```
    /// let raw = atomsync::RawRwLock::new();
    /// raw.acquire_upgradable();
    /// assert!(raw.try_acquire_shared());
    /// assert!(!raw.try_acquire_upgradable());
    /// // SAFETY: both locks are held.
    /// unsafe {
    ///     raw.release_shared();
    ///     raw.release_upgradable();
    /// }
    /// ```
    #[inline]
    pub fn acquire_upgradable(&self) {
        if !self.try_read(true) {
            self.read_contended(None, true);
        }
    }

    /// Takes an upgradable read lock if possible right now; never blocks.
    ///
    /// ```
    /// let raw = atomsync::RawRwLock::new();
    /// assert!(raw.try_acquire_upgradable());
    /// assert!(!raw.try_acquire_upgradable());
    /// # unsafe { raw.release_upgradable() };
    /// ```
    #[inline]
    pub fn try_acquire_upgradable(&self) -> bool {
        self.try_read(true)
    }

    /// Tries to take an upgradable read lock until `deadline` (`None`: forever).
    ///
    /// ```
    /// let raw = atomsync::RawRwLock::new();
    /// assert!(raw.try_acquire_upgradable_until(None));
    /// # unsafe { raw.release_upgradable() };
    /// ```
    #[inline]
    pub fn try_acquire_upgradable_until(&self, deadline: Option<Instant>) -> bool {
        self.try_read(true) || self.read_contended(deadline, true)
    }

    /// Releases an upgradable read lock.
    ///
    /// # Safety
    /// The calling context must hold the upgradable read lock.
    ///
    /// ```
    /// let raw = atomsync::RawRwLock::new();
    /// raw.acquire_upgradable();
    /// // SAFETY: held.
    /// unsafe { raw.release_upgradable() };
    /// ```
    #[inline]
    pub unsafe fn release_upgradable(&self) {
        let mut state = self.state.load(Relaxed);
        loop {
            debug_assert!(state & UPGRADABLE != 0 && count(state) >= 1, "release of an unheld upgradable lock");
            let mut new = (state - READER) & !UPGRADABLE;
            let wake_readers = new & READERS_WAITING != 0;
            new &= !READERS_WAITING;
            // WRITERS_WAITING stays set until a writer has the lock (`wake_waiting_writer`).
            let wake_writer = count(new) == 0 && new & WRITERS_WAITING != 0;
            // Release: as in `release_shared`.
            match self.state.compare_exchange_weak(state, new, Release, Relaxed) {
                Ok(_) => {
                    if wake_readers {
                        futex::wake_all(&self.state);
                    }
                    if wake_writer {
                        self.wake_waiting_writer();
                    }
                    return;
                }
                Err(actual) => state = actual,
            }
        }
    }

    /// Upgrades the held upgradable read lock to the write lock, waiting for the other
    /// readers to leave. New readers wait meanwhile, so the upgrade cannot be starved.
    ///
    /// # Safety
    /// The calling context must hold the upgradable read lock; afterwards it holds the write
    /// lock instead.
    ///
    /// ```
    /// let raw = atomsync::RawRwLock::new();
    /// raw.acquire_upgradable();
    /// // SAFETY: the upgradable lock is held; then the write lock is.
    /// unsafe {
    ///     raw.upgrade_to_exclusive();
    ///     raw.release_exclusive();
    /// }
    /// ```
    #[inline]
    pub unsafe fn upgrade_to_exclusive(&self) {
        // SAFETY: forwarded from the caller.
        if !unsafe { self.try_upgrade_to_exclusive() } {
            self.upgrade_contended(None);
        }
    }

    /// Upgrades to the write lock if no other reader holds the lock right now.
    ///
    /// # Safety
    /// The calling context must hold the upgradable read lock; on `true` it holds the write
    /// lock instead, on `false` still the upgradable one.
    ///
    /// ```
    /// let raw = atomsync::RawRwLock::new();
    /// raw.acquire_upgradable();
    /// raw.acquire_shared();
    /// // SAFETY: the locks named are held.
    /// unsafe {
    ///     assert!(!raw.try_upgrade_to_exclusive());
    ///     raw.release_shared();
    ///     assert!(raw.try_upgrade_to_exclusive());
    ///     raw.release_exclusive();
    /// }
    /// ```
    #[inline]
    pub unsafe fn try_upgrade_to_exclusive(&self) -> bool {
        let mut state = self.state.load(Relaxed);
        while count(state) == 1 {
            debug_assert!(state & UPGRADABLE != 0, "upgrade without an upgradable lock");
            let new = (state & !(MASK | UPGRADABLE | UPGRADING)) | WRITE_LOCKED;
            // Acquire: pairs with the Release of the read unlocks that drained the count, so
            // their reads happen-before our writes.
            match self.state.compare_exchange_weak(state, new, Acquire, Relaxed) {
                Ok(_) => return true,
                Err(actual) => state = actual,
            }
        }
        false
    }

    /// Upgrades to the write lock, waiting for the other readers until `deadline` (`None`:
    /// forever). On `false` the deadline passed and the upgradable lock is still held.
    ///
    /// # Safety
    /// As for [`try_upgrade_to_exclusive`](Self::try_upgrade_to_exclusive).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let raw = atomsync::RawRwLock::new();
    /// raw.acquire_upgradable();
    /// raw.acquire_shared();
    /// // SAFETY: the locks named are held.
    /// unsafe {
    ///     assert!(!raw.try_upgrade_to_exclusive_until(Some(Instant::now() + Duration::from_millis(1))));
    ///     raw.release_shared();
    ///     raw.release_upgradable();
    /// }
    /// ```
    #[inline]
    pub unsafe fn try_upgrade_to_exclusive_until(&self, deadline: Option<Instant>) -> bool {
        // SAFETY: forwarded from the caller.
        (unsafe { self.try_upgrade_to_exclusive() }) || self.upgrade_contended(deadline)
    }

    /// Turns the held upgradable read lock into a plain read lock, atomically, and wakes
    /// threads waiting for the upgradable lock.
    ///
    /// # Safety
    /// The calling context must hold the upgradable read lock; afterwards it holds a read lock.
    ///
    /// ```
    /// let raw = atomsync::RawRwLock::new();
    /// raw.acquire_upgradable();
    /// // SAFETY: held; then a read lock is held.
    /// unsafe { raw.downgrade_upgradable_to_shared() };
    /// assert!(raw.try_acquire_upgradable());
    /// # unsafe { raw.release_upgradable(); raw.release_shared() };
    /// ```
    #[inline]
    pub unsafe fn downgrade_upgradable_to_shared(&self) {
        let mut state = self.state.load(Relaxed);
        loop {
            debug_assert!(state & UPGRADABLE != 0, "downgrade without an upgradable lock");
            let new = state & !(UPGRADABLE | READERS_WAITING);
            // Relaxed: we keep holding a read lock, so there is nothing to publish; woken
            // threads acquire with their own Acquire CAS.
            match self.state.compare_exchange_weak(state, new, Relaxed, Relaxed) {
                Ok(_) => {
                    if state & READERS_WAITING != 0 {
                        futex::wake_all(&self.state);
                    }
                    return;
                }
                Err(actual) => state = actual,
            }
        }
    }

    // ------------------------------------------------------------ exclusive (write) lock

    /// Blocks until the write lock is acquired.
    ///
    /// ```
    /// let raw = atomsync::RawRwLock::new();
    /// raw.acquire_exclusive();
    /// assert!(raw.is_held_exclusive());
    /// // SAFETY: the write lock is held.
    /// unsafe { raw.release_exclusive() };
    /// ```
    #[inline]
    pub fn acquire_exclusive(&self) {
        // Acquire: pairs with the Release of every unlock, so the previous critical sections
        // (reads and writes) happen-before ours.
        if self.state.compare_exchange_weak(0, WRITE_LOCKED, Acquire, Relaxed).is_err() {
            self.write_contended(None);
        }
    }

    /// Takes the write lock if nobody holds the lock right now; never blocks.
    ///
    /// ```
    /// let raw = atomsync::RawRwLock::new();
    /// assert!(raw.try_acquire_exclusive());
    /// assert!(!raw.try_acquire_exclusive());
    /// # unsafe { raw.release_exclusive() };
    /// ```
    #[inline]
    pub fn try_acquire_exclusive(&self) -> bool {
        let mut state = self.state.load(Relaxed);
        while count(state) == 0 {
            // Acquire: as in `acquire_exclusive`.
            match self.state.compare_exchange_weak(state, state | WRITE_LOCKED, Acquire, Relaxed) {
                Ok(_) => return true,
                Err(actual) => state = actual,
            }
        }
        false
    }

    /// Tries to take the write lock until `deadline` (`None`: forever). False only once the
    /// deadline has passed.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let raw = atomsync::RawRwLock::new();
    /// raw.acquire_shared();
    /// assert!(!raw.try_acquire_exclusive_until(Some(Instant::now() + Duration::from_millis(1))));
    /// # unsafe { raw.release_shared() };
    /// ```
    #[inline]
    pub fn try_acquire_exclusive_until(&self, deadline: Option<Instant>) -> bool {
        self.try_acquire_exclusive() || self.write_contended(deadline)
    }

    /// Releases the write lock, waking waiting readers (first) or a waiting writer.
    ///
    /// # Safety
    /// The calling context must hold the write lock.
    ///
    /// ```
    /// let raw = atomsync::RawRwLock::new();
    /// raw.acquire_exclusive();
    /// // SAFETY: the write lock is held.
    /// unsafe { raw.release_exclusive() };
    /// ```
    #[inline]
    pub unsafe fn release_exclusive(&self) {
        // Release: publishes our critical section to the next owner's Acquire.
        if self.state.compare_exchange(WRITE_LOCKED, 0, Release, Relaxed).is_err() {
            self.release_exclusive_slow();
        }
    }

    /// Turns the held write lock into a read lock, atomically (no writer can get in between),
    /// and wakes the waiting readers.
    ///
    /// # Safety
    /// The calling context must hold the write lock; afterwards it holds a read lock.
    ///
    /// ```
    /// let raw = atomsync::RawRwLock::new();
    /// raw.acquire_exclusive();
    /// // SAFETY: the write lock is held; then a read lock is.
    /// unsafe { raw.downgrade_to_shared() };
    /// assert!(raw.try_acquire_shared());
    /// # unsafe { raw.release_shared(); raw.release_shared() };
    /// ```
    #[inline]
    pub unsafe fn downgrade_to_shared(&self) {
        self.downgrade_exclusive(READER);
    }

    /// Turns the held write lock into an upgradable read lock, atomically, and wakes the
    /// waiting readers.
    ///
    /// # Safety
    /// The calling context must hold the write lock; afterwards it holds the upgradable lock.
    ///
    /// ```
    /// let raw = atomsync::RawRwLock::new();
    /// raw.acquire_exclusive();
    /// // SAFETY: the write lock is held; then the upgradable lock is.
    /// unsafe { raw.downgrade_exclusive_to_upgradable() };
    /// assert!(raw.try_acquire_shared());
    /// assert!(!raw.try_acquire_upgradable());
    /// # unsafe { raw.release_shared(); raw.release_upgradable() };
    /// ```
    #[inline]
    pub unsafe fn downgrade_exclusive_to_upgradable(&self) {
        self.downgrade_exclusive(READER | UPGRADABLE);
    }

    /// True if the lock is held in any mode (a snapshot that may be stale at once).
    ///
    /// ```
    /// let raw = atomsync::RawRwLock::new();
    /// assert!(!raw.is_held());
    /// ```
    #[inline]
    pub fn is_held(&self) -> bool {
        count(self.state.load(Relaxed)) != 0
    }

    /// True if the write lock is held (a snapshot that may be stale at once).
    ///
    /// ```
    /// let raw = atomsync::RawRwLock::new();
    /// raw.acquire_shared();
    /// assert!(!raw.is_held_exclusive());
    /// # unsafe { raw.release_shared() };
    /// ```
    #[inline]
    pub fn is_held_exclusive(&self) -> bool {
        count(self.state.load(Relaxed)) == WRITE_LOCKED
    }

    // ------------------------------------------------------------------ the slow paths

    /// The non-blocking read (or upgradable read) acquisition shared by the fast paths.
    #[inline]
    fn try_read(&self, upgradable: bool) -> bool {
        let add = if upgradable { READER | UPGRADABLE } else { READER };
        let mut state = self.state.load(Relaxed);
        loop {
            if !is_read_lockable(state, upgradable) {
                if count(state) == MAX_READERS {
                    too_many_readers();
                }
                return false;
            }
            // Acquire: as in `acquire_shared`.
            match self.state.compare_exchange_weak(state, state + add, Acquire, Relaxed) {
                Ok(_) => return true,
                Err(actual) => state = actual,
            }
        }
    }

    /// Waits for a read (or upgradable read) lock until `deadline`; false if it passed.
    #[cold]
    fn read_contended(&self, deadline: Option<Instant>, upgradable: bool) -> bool {
        let add = if upgradable { READER | UPGRADABLE } else { READER };
        let mut spin = SpinWait::new();
        // A futex wake ended one of our sleeps: we may join a running read phase.
        let mut woken = false;
        let mut state = self.state.load(Relaxed);
        loop {
            // 1. A write unlock handed the lock to the readers: the phantom read lock is ours.
            //    (Checked first: a thread woken by the hand-off must claim it, or nobody might.)
            if state & HANDOFF != 0 {
                let new = (state & !HANDOFF) | (add & UPGRADABLE);
                // Acquire: pairs with the Release CAS of the write unlock that set HANDOFF.
                match self.state.compare_exchange_weak(state, new, Acquire, Relaxed) {
                    Ok(_) => return true,
                    Err(actual) => state = actual,
                }
                continue;
            }

            // 2. We may enter: take a read lock.
            if is_read_lockable(state, upgradable) || (woken && is_read_lockable_after_wakeup(state, upgradable)) {
                // Acquire: as in `acquire_shared`.
                match self.state.compare_exchange_weak(state, state + add, Acquire, Relaxed) {
                    Ok(_) => return true,
                    Err(actual) => state = actual,
                }
                continue;
            }
            if count(state) == MAX_READERS {
                too_many_readers();
            }

            // 3. Out of time (checked before spinning: a passed deadline returns at once).
            //    READERS_WAITING may stay set: at worst a spurious wake later. Reader wakes
            //    are wake-alls, and a HANDOFF was claimed in step 1 first: a timed-out reader
            //    never swallows a wake that another thread needed.
            if futex::deadline_passed(deadline) {
                return false;
            }

            // 4. Spin a little while nobody sleeps: a writer's critical section is short.
            if state & READERS_WAITING == 0 && spin.spin() {
                state = self.state.load(Relaxed);
                continue;
            }

            // 5. Say that we sleep, then sleep until the word changes.
            if state & READERS_WAITING == 0 {
                // Relaxed: only the flag changes; the unlocker's read-modify-write sees it.
                if let Err(actual) =
                    self.state.compare_exchange_weak(state, state | READERS_WAITING, Relaxed, Relaxed)
                {
                    state = actual;
                    continue;
                }
            }
            woken |= futex::wait(&self.state, state | READERS_WAITING, deadline) == futex::Wait::Woken;
            spin.reset();
            state = self.state.load(Relaxed);
        }
    }

    /// The slow path of `release_shared`: a writer or the upgrader may need waking.
    #[cold]
    fn release_shared_slow(&self, state: u32) {
        if count(state) == 1 && state & UPGRADING != 0 {
            // Only the upgrader holds on: wake it (it shares writer_notify with the writers,
            // so wake them all; the writers find the lock still held and sleep again).
            self.wake_all_writers();
            return;
        }
        if count(state) == 0 && state & WRITERS_WAITING != 0 {
            self.wake_waiting_writer();
        }
    }

    /// The lock became free with WRITERS_WAITING set: wake one writer, *leaving the flag set*
    /// so that no reader can slip in before that writer takes the lock (it would cost the
    /// writer a whole read phase). If no writer was asleep, the flag may be stale (the last
    /// writer that set it has the lock already, or gave up): clear it while the lock is still
    /// free and let in the readers that stopped behind it. A writer that was about to sleep
    /// finds `writer_notify` bumped, does not sleep, and sets the flag again.
    fn wake_waiting_writer(&self) {
        // Where `wake_one` cannot tell whether it woke anyone, never trust it: clear the flag.
        if self.wake_writer() && cfg!(any(target_os = "linux", loom)) {
            return;
        }
        let mut state = self.state.load(Relaxed);
        while count(state) == 0 && state & WRITERS_WAITING != 0 {
            let new = state & !(WRITERS_WAITING | READERS_WAITING);
            // Relaxed: only flags change; woken threads acquire with their own Acquire CAS.
            match self.state.compare_exchange_weak(state, new, Relaxed, Relaxed) {
                Ok(_) => {
                    if state & READERS_WAITING != 0 {
                        futex::wake_all(&self.state);
                    }
                    return;
                }
                Err(actual) => state = actual,
            }
        }
        // Taken meanwhile (by a writer, which keeps the flag): its unlock takes over.
    }

    /// Waits for the write lock until `deadline`; false if it passed.
    #[cold]
    fn write_contended(&self, deadline: Option<Instant>) -> bool {
        let mut spin = SpinWait::new();
        // Once we have set WRITERS_WAITING (or seen it set), other writers may sleep: we set
        // it again when we take the lock, since the unlock that woke us cleared it.
        let mut other_writers_waiting = 0;
        let mut state = self.state.load(Relaxed);
        loop {
            // 1. Nobody holds the lock: take it.
            if count(state) == 0 {
                let new = state | WRITE_LOCKED | other_writers_waiting;
                // Acquire: as in `acquire_exclusive`.
                match self.state.compare_exchange_weak(state, new, Acquire, Relaxed) {
                    Ok(_) => return true,
                    Err(actual) => state = actual,
                }
                continue;
            }

            // 2. Out of time (checked before spinning: a passed deadline returns at once).
            //    Undo our WRITERS_WAITING (see `writer_timed_out`).
            if futex::deadline_passed(deadline) {
                if other_writers_waiting != 0 {
                    self.writer_timed_out();
                }
                return false;
            }

            // 3. Spin a little while no writer sleeps. Behind readers, only the busy-waiting
            //    rounds: until WRITERS_WAITING is set new readers keep entering, so every
            //    yield (a whole time slice on a loaded machine) would lengthen our wait.
            if state & WRITERS_WAITING == 0 {
                let spun = if count(state) == WRITE_LOCKED {
                    spin.spin()
                } else {
                    spin.spin_without_yield()
                };
                if spun {
                    state = self.state.load(Relaxed);
                    continue;
                }
            }

            // 4. Say that a writer waits: new readers stop here.
            if state & WRITERS_WAITING == 0 {
                // Relaxed: only the flag changes; readers' CASes see it in the word's order.
                if let Err(actual) =
                    self.state.compare_exchange_weak(state, state | WRITERS_WAITING, Relaxed, Relaxed)
                {
                    state = actual;
                    continue;
                }
            }
            other_writers_waiting = WRITERS_WAITING;

            // 5. Sleep on writer_notify. Read it *before* re-checking the state: a wake that
            //    comes after our check bumped it first, so the futex wait returns at once.
            // Acquire: pairs with the Release bump in `wake_writer`, so if we see the new
            // value we also see the state change made before it.
            let seq = self.writer_notify.load(Acquire);
            state = self.state.load(Relaxed);
            if count(state) == 0 || state & WRITERS_WAITING == 0 {
                continue;
            }
            futex::wait(&self.writer_notify, seq, deadline);
            spin.reset();
            state = self.state.load(Relaxed);
        }
    }

    /// A writer that registered in WRITERS_WAITING gives up. Writers are not counted, so we
    /// cannot tell whether we were the only one: clear the flag and wake every writer (the
    /// others set it again), and if the lock is not write-locked and no upgrade drains it,
    /// let in the readers that stopped behind the flag.
    #[cold]
    fn writer_timed_out(&self) {
        let mut state = self.state.load(Relaxed);
        let wake_readers = loop {
            if state & WRITERS_WAITING == 0 {
                // Only two things clear the flag: a waker that found no writer asleep (then
                // none sleeps that did not set it again since), or another timed-out writer,
                // which woke them all. Either way no writer sleeps on a wake spent on us.
                return;
            }
            let mut new = state & !WRITERS_WAITING;
            let wake_readers = state & READERS_WAITING != 0
                && count(state) != WRITE_LOCKED
                && state & UPGRADING == 0;
            if wake_readers {
                new &= !READERS_WAITING;
            }
            // Relaxed: only flags change; woken threads acquire with their own Acquire CAS.
            match self.state.compare_exchange_weak(state, new, Relaxed, Relaxed) {
                Ok(_) => break wake_readers,
                Err(actual) => state = actual,
            }
        };
        // The seeded bug for the loom CI check of a timeout path: forget to pass the wake on.
        #[cfg(not(atomsync_seeded_bug))]
        self.wake_all_writers();
        if wake_readers {
            futex::wake_all(&self.state);
        }
    }

    /// The slow path of `release_exclusive`: somebody waits.
    #[cold]
    fn release_exclusive_slow(&self) {
        let mut state = self.state.load(Relaxed);
        loop {
            debug_assert!(count(state) == WRITE_LOCKED, "release of an unheld write lock");
            // Only READERS_WAITING and WRITERS_WAITING can be set besides the lock.
            let unlocked = state & !MASK;
            let readers = state & READERS_WAITING != 0;
            let writers = state & WRITERS_WAITING != 0;
            let new = if readers {
                // Phase-fair hand-over: one phantom read lock, claimed by a woken reader, so a
                // writer on the CPU (this one, locking again at once) cannot barge ahead of
                // the readers that waited through our critical section.
                (unlocked & !READERS_WAITING) | READER | HANDOFF
            } else {
                // Writers only: WRITERS_WAITING stays set until the woken writer has the lock
                // (see `wake_waiting_writer`).
                unlocked
            };
            // Release: publishes our critical section to the next owner's Acquire.
            match self.state.compare_exchange_weak(state, new, Release, Relaxed) {
                Ok(_) if readers => return self.hand_over_to_readers(),
                Ok(_) if writers => {
                    self.wake_waiting_writer();
                    return;
                }
                // A timed-out writer cleared WRITERS_WAITING meanwhile: nobody to wake.
                Ok(_) => return,
                Err(actual) => state = actual,
            }
        }
    }

    /// After setting HANDOFF: wake the readers. A thread woken from `state` claims the
    /// phantom read lock first thing (the others join it); if no thread slept there, take
    /// the phantom back.
    fn hand_over_to_readers(&self) {
        if self.wake_readers_for_hand_over() {
            return;
        }
        let mut state = self.state.load(Relaxed);
        while state & HANDOFF != 0 {
            // Relaxed: the phantom read lock becomes ours; `release_shared` publishes with
            // Release (we did not write since the write unlock's Release anyway).
            match self.state.compare_exchange_weak(state, state & !HANDOFF, Relaxed, Relaxed) {
                // SAFETY: the phantom read lock we just claimed.
                Ok(_) => return unsafe { self.release_shared() },
                Err(actual) => state = actual,
            }
        }
        // Claimed by a reader meanwhile: it releases it as its own.
    }

    /// Wakes every thread asleep on `state`; true only if the platform says one was woken.
    fn wake_readers_for_hand_over(&self) -> bool {
        // The seeded bug for the loom CI check: forget to wake the readers (and believe that
        // one woke, so the phantom read lock is left to nobody).
        if cfg!(atomsync_seeded_bug) {
            return true;
        }
        // Where the platform cannot tell, release the phantom ourselves (readers then race).
        futex::wake_all(&self.state) && cfg!(any(target_os = "linux", loom))
    }

    /// Write lock -> `held` (a read lock, or an upgradable one), waking the readers.
    fn downgrade_exclusive(&self, held: u32) {
        let mut state = self.state.load(Relaxed);
        loop {
            debug_assert!(count(state) == WRITE_LOCKED, "downgrade of an unheld write lock");
            let new = ((state & !MASK) | held) & !READERS_WAITING;
            // Release: publishes our writes to the readers that enter after this.
            match self.state.compare_exchange_weak(state, new, Release, Relaxed) {
                Ok(_) => {
                    if state & READERS_WAITING != 0 {
                        futex::wake_all(&self.state);
                    }
                    return;
                }
                Err(actual) => state = actual,
            }
        }
    }

    /// Waits, as the upgradable holder, for the count to drop to 1 until `deadline`.
    #[cold]
    fn upgrade_contended(&self, deadline: Option<Instant>) -> bool {
        let mut spin = SpinWait::new();
        let mut state = self.state.load(Relaxed);
        loop {
            if count(state) == 1 {
                let new = (state & !(MASK | UPGRADABLE | UPGRADING)) | WRITE_LOCKED;
                // Acquire: as in `try_upgrade_to_exclusive`.
                match self.state.compare_exchange_weak(state, new, Acquire, Relaxed) {
                    Ok(_) => return true,
                    Err(actual) => state = actual,
                }
                continue;
            }
            // Out of time (before spinning: a passed deadline returns at once).
            if futex::deadline_passed(deadline) {
                self.upgrade_timed_out();
                return false;
            }
            if state & UPGRADING == 0 && spin.spin() {
                state = self.state.load(Relaxed);
                continue;
            }
            if state & UPGRADING == 0 {
                // Relaxed: only the flag changes; the read unlocks' fetch_sub see it.
                if let Err(actual) =
                    self.state.compare_exchange_weak(state, state | UPGRADING, Relaxed, Relaxed)
                {
                    state = actual;
                    continue;
                }
            }
            // Acquire: as for the writers in `write_contended`.
            let seq = self.writer_notify.load(Acquire);
            state = self.state.load(Relaxed);
            if count(state) == 1 {
                continue;
            }
            futex::wait(&self.writer_notify, seq, deadline);
            spin.reset();
            state = self.state.load(Relaxed);
        }
    }

    /// A timed upgrade gives up: clear UPGRADING and let in the readers it held back.
    #[cold]
    fn upgrade_timed_out(&self) {
        let mut state = self.state.load(Relaxed);
        while state & UPGRADING != 0 {
            let new = state & !(UPGRADING | READERS_WAITING);
            // Relaxed: only flags change; woken readers acquire with their own Acquire CAS.
            match self.state.compare_exchange_weak(state, new, Relaxed, Relaxed) {
                Ok(_) => {
                    if state & READERS_WAITING != 0 {
                        futex::wake_all(&self.state);
                    }
                    return;
                }
                Err(actual) => state = actual,
            }
        }
    }

    /// Wakes one writer; false only if the platform says no writer was asleep (on Linux and
    /// under loom; elsewhere `wake_one` cannot tell and this is always true).
    fn wake_writer(&self) -> bool {
        // Release: pairs with the Acquire load in `write_contended`: a writer that reads the
        // new value sees the state change made before this bump.
        self.writer_notify.fetch_add(1, Release);
        futex::wake_one(&self.writer_notify)
    }

    /// Wakes every writer and the upgrader.
    fn wake_all_writers(&self) {
        // Release: as in `wake_writer`.
        self.writer_notify.fetch_add(1, Release);
        futex::wake_all(&self.writer_notify);
    }
}

// SAFETY: a shared guard is returned only after a CAS (Acquire) that counted a reader while the
// count was below MAX_READERS (so not write-locked), or claimed the phantom reader of a
// HANDOFF; an exclusive guard only after a CAS (Acquire) from count 0 to WRITE_LOCKED, or an
// upgrade from count 1 (the upgrader alone). Readers therefore never coexist with a writer,
// nor writers with each other; every release is a Release read-modify-write. The only panic of
// a lock operation (too many readers) happens before anything is acquired.
#[cfg(not(loom))]
unsafe impl lock_api::RawRwLock for RawRwLock {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = Self::new();

    // No owner identity: any thread may release, so guards are Send.
    type SharedGuard = lock_api::GuardSend;
    type ExclusiveGuard = lock_api::GuardSend;

    #[inline]
    fn lock_shared(&self) -> Self::SharedGuard {
        self.acquire_shared();
        lock_api::GuardSend::new()
    }

    #[inline]
    fn try_lock_shared(&self) -> Option<Self::SharedGuard> {
        self.try_acquire_shared().then(lock_api::GuardSend::new)
    }

    #[inline]
    unsafe fn unlock_shared(&self, _guard: Self::SharedGuard) {
        // SAFETY: the caller holds a read lock.
        unsafe { self.release_shared() }
    }

    #[inline]
    fn lock_exclusive(&self) -> Self::ExclusiveGuard {
        self.acquire_exclusive();
        lock_api::GuardSend::new()
    }

    #[inline]
    fn try_lock_exclusive(&self) -> Option<Self::ExclusiveGuard> {
        self.try_acquire_exclusive().then(lock_api::GuardSend::new)
    }

    #[inline]
    unsafe fn unlock_exclusive(&self, _guard: Self::ExclusiveGuard) {
        // SAFETY: the caller holds the write lock.
        unsafe { self.release_exclusive() }
    }

    #[inline]
    fn is_locked(&self) -> bool {
        self.is_held()
    }

    #[inline]
    fn is_locked_exclusive(&self) -> bool {
        self.is_held_exclusive()
    }
}

// SAFETY: the fair unlocks are the normal ones, which already hand the lock to sleeping
// readers before the next writer (see the module doc); they release exactly like them.
#[cfg(not(loom))]
unsafe impl lock_api::RawRwLockFair for RawRwLock {
    #[inline]
    unsafe fn unlock_shared_fair(&self, _guard: Self::SharedGuard) {
        // SAFETY: the caller holds a read lock.
        unsafe { self.release_shared() }
    }

    #[inline]
    unsafe fn unlock_exclusive_fair(&self, _guard: Self::ExclusiveGuard) {
        // SAFETY: the caller holds the write lock.
        unsafe { self.release_exclusive() }
    }
}

// SAFETY: the count goes from WRITE_LOCKED to 1 in one Release CAS: no writer can enter in
// between, and the readers that enter afterwards acquire from it.
#[cfg(not(loom))]
unsafe impl lock_api::RawRwLockDowngrade for RawRwLock {
    #[inline]
    unsafe fn downgrade(&self, _guard: Self::ExclusiveGuard) -> Self::SharedGuard {
        // SAFETY: the caller holds the write lock.
        unsafe { self.downgrade_to_shared() };
        lock_api::GuardSend::new()
    }
}

// SAFETY: the timed forms return a guard only after the same acquisitions as the untimed ones.
#[cfg(not(loom))]
unsafe impl lock_api::RawRwLockTimed for RawRwLock {
    type Duration = Duration;
    type Instant = Instant;

    #[inline]
    fn try_lock_shared_for(&self, timeout: Duration) -> Option<Self::SharedGuard> {
        // A timeout too long to represent (`Duration::MAX`) waits forever.
        self.try_acquire_shared_until(futex::deadline_after(timeout))
            .then(lock_api::GuardSend::new)
    }

    #[inline]
    fn try_lock_shared_until(&self, deadline: Instant) -> Option<Self::SharedGuard> {
        self.try_acquire_shared_until(Some(deadline)).then(lock_api::GuardSend::new)
    }

    #[inline]
    fn try_lock_exclusive_for(&self, timeout: Duration) -> Option<Self::ExclusiveGuard> {
        self.try_acquire_exclusive_until(futex::deadline_after(timeout))
            .then(lock_api::GuardSend::new)
    }

    #[inline]
    fn try_lock_exclusive_until(&self, deadline: Instant) -> Option<Self::ExclusiveGuard> {
        self.try_acquire_exclusive_until(Some(deadline)).then(lock_api::GuardSend::new)
    }
}

// SAFETY: UPGRADABLE admits one holder at a time (set by a CAS that found it clear); an upgrade
// takes the write lock only when the count is 1 (the upgrader alone), with Acquire.
#[cfg(not(loom))]
unsafe impl lock_api::RawRwLockUpgrade for RawRwLock {
    type UpgradableGuard = lock_api::GuardSend;

    #[inline]
    fn lock_upgradable(&self) -> Self::UpgradableGuard {
        self.acquire_upgradable();
        lock_api::GuardSend::new()
    }

    #[inline]
    fn try_lock_upgradable(&self) -> Option<Self::UpgradableGuard> {
        self.try_acquire_upgradable().then(lock_api::GuardSend::new)
    }

    #[inline]
    unsafe fn unlock_upgradable(&self, _guard: Self::UpgradableGuard) {
        // SAFETY: the caller holds the upgradable lock.
        unsafe { self.release_upgradable() }
    }

    #[inline]
    unsafe fn upgrade(&self, _guard: Self::UpgradableGuard) -> Self::ExclusiveGuard {
        // SAFETY: the caller holds the upgradable lock.
        unsafe { self.upgrade_to_exclusive() };
        lock_api::GuardSend::new()
    }

    #[inline]
    unsafe fn try_upgrade(
        &self,
        guard: Self::UpgradableGuard,
    ) -> Result<Self::ExclusiveGuard, Self::UpgradableGuard> {
        // SAFETY: the caller holds the upgradable lock.
        if unsafe { self.try_upgrade_to_exclusive() } { Ok(lock_api::GuardSend::new()) } else { Err(guard) }
    }
}

// SAFETY: the fair unlock of the upgradable lock is its normal release (below). `bump_upgradable`
// is lock_api's default: that fair unlock, then `lock_upgradable`, aborting if re-locking panics.
// It is fair to writers: the flag of a waiting writer keeps every new reader (the bumping thread
// included) out until that writer has had the lock; sleeping readers are woken and race the
// bumping thread for the read phase they share.
#[cfg(not(loom))]
unsafe impl lock_api::RawRwLockUpgradeFair for RawRwLock {
    #[inline]
    unsafe fn unlock_upgradable_fair(&self, _guard: Self::UpgradableGuard) {
        // SAFETY: the caller holds the upgradable lock.
        unsafe { self.release_upgradable() }
    }
}

// SAFETY: both are single atomic steps that keep writers out (see the methods).
#[cfg(not(loom))]
unsafe impl lock_api::RawRwLockUpgradeDowngrade for RawRwLock {
    #[inline]
    unsafe fn downgrade_upgradable(&self, _guard: Self::UpgradableGuard) -> Self::SharedGuard {
        // SAFETY: the caller holds the upgradable lock.
        unsafe { self.downgrade_upgradable_to_shared() };
        lock_api::GuardSend::new()
    }

    #[inline]
    unsafe fn downgrade_to_upgradable(&self, _guard: Self::ExclusiveGuard) -> Self::UpgradableGuard {
        // SAFETY: the caller holds the write lock.
        unsafe { self.downgrade_exclusive_to_upgradable() };
        lock_api::GuardSend::new()
    }
}

// SAFETY: as for the untimed upgradable forms; a failed timed upgrade keeps the upgradable
// lock and returns its guard.
#[cfg(not(loom))]
unsafe impl lock_api::RawRwLockUpgradeTimed for RawRwLock {
    #[inline]
    fn try_lock_upgradable_for(&self, timeout: Duration) -> Option<Self::UpgradableGuard> {
        self.try_acquire_upgradable_until(futex::deadline_after(timeout))
            .then(lock_api::GuardSend::new)
    }

    #[inline]
    fn try_lock_upgradable_until(&self, deadline: Instant) -> Option<Self::UpgradableGuard> {
        self.try_acquire_upgradable_until(Some(deadline)).then(lock_api::GuardSend::new)
    }

    #[inline]
    unsafe fn try_upgrade_for(
        &self,
        guard: Self::UpgradableGuard,
        timeout: Duration,
    ) -> Result<Self::ExclusiveGuard, Self::UpgradableGuard> {
        // SAFETY: the caller holds the upgradable lock.
        if unsafe { self.try_upgrade_to_exclusive_until(futex::deadline_after(timeout)) } {
            Ok(lock_api::GuardSend::new())
        } else {
            Err(guard)
        }
    }

    #[inline]
    unsafe fn try_upgrade_until(
        &self,
        guard: Self::UpgradableGuard,
        deadline: Instant,
    ) -> Result<Self::ExclusiveGuard, Self::UpgradableGuard> {
        // SAFETY: the caller holds the upgradable lock.
        if unsafe { self.try_upgrade_to_exclusive_until(Some(deadline)) } {
            Ok(lock_api::GuardSend::new())
        } else {
            Err(guard)
        }
    }
}

/// A reader-writer lock protecting a `T`: 8 bytes plus the `T` (std's is 12 plus the `T`).
///
/// This is [`lock_api::RwLock`] over [`RawRwLock`], so it has parking_lot's API: `read()`
/// and `write()` return guards directly (no poisoning), plus `try_*`, timed `try_*_for` /
/// `try_*_until`, `upgradable_read()` with `upgrade`, `downgrade`, mapped guards and `Arc`
/// guards. Policy: phase-fair (see [`RawRwLock`]'s module notes in `docs/design.md`): a
/// waiting writer stops new readers, and a write unlock lets the waiting readers in before
/// the next writer.
///
/// ```
/// use atomsync::RwLock;
/// use std::sync::Arc;
///
/// let config = Arc::new(RwLock::new(vec![1, 2]));
/// let reader = {
///     let config = Arc::clone(&config);
///     std::thread::spawn(move || config.read().len())
/// };
/// config.write().push(3);
/// assert!(matches!(reader.join().unwrap(), 2 | 3));
/// assert_eq!(*config.read(), [1, 2, 3]);
/// ```
#[cfg(not(loom))]
pub type RwLock<T> = lock_api::RwLock<RawRwLock, T>;

/// The guard of a read lock on an [`RwLock`]; unlocks on drop.
///
/// ```
/// let lock = atomsync::RwLock::new(5);
/// let a: atomsync::RwLockReadGuard<'_, i32> = lock.read();
/// let b = lock.read();
/// assert_eq!(*a + *b, 10);
/// ```
#[cfg(not(loom))]
pub type RwLockReadGuard<'a, T> = lock_api::RwLockReadGuard<'a, RawRwLock, T>;

/// The guard of the write lock on an [`RwLock`]; unlocks on drop.
///
/// ```
/// let lock = atomsync::RwLock::new(5);
/// let mut guard: atomsync::RwLockWriteGuard<'_, i32> = lock.write();
/// *guard += 1;
/// drop(guard);
/// assert_eq!(*lock.read(), 6);
/// ```
#[cfg(not(loom))]
pub type RwLockWriteGuard<'a, T> = lock_api::RwLockWriteGuard<'a, RawRwLock, T>;

/// The guard of the upgradable read lock on an [`RwLock`]: shares with readers, excludes
/// writers and other upgradable readers, and can be upgraded to a write guard.
///
/// ```
/// use atomsync::{RwLock, RwLockUpgradableReadGuard};
/// let lock = RwLock::new(1);
/// let guard = lock.upgradable_read();
/// assert_eq!(*lock.read(), 1); // readers still get in
/// let mut writer = RwLockUpgradableReadGuard::upgrade(guard);
/// *writer = 2;
/// drop(writer);
/// assert_eq!(*lock.read(), 2);
/// ```
#[cfg(not(loom))]
pub type RwLockUpgradableReadGuard<'a, T> = lock_api::RwLockUpgradableReadGuard<'a, RawRwLock, T>;

/// A read guard for a part of an [`RwLock`]'s data, from
/// [`RwLockReadGuard::map`](lock_api::RwLockReadGuard::map).
///
/// ```
/// use atomsync::{MappedRwLockReadGuard, RwLock, RwLockReadGuard};
/// let lock = RwLock::new((1, 2));
/// let second: MappedRwLockReadGuard<'_, i32> = RwLockReadGuard::map(lock.read(), |pair| &pair.1);
/// assert_eq!(*second, 2);
/// ```
#[cfg(not(loom))]
pub type MappedRwLockReadGuard<'a, T> = lock_api::MappedRwLockReadGuard<'a, RawRwLock, T>;

/// A write guard for a part of an [`RwLock`]'s data, from
/// [`RwLockWriteGuard::map`](lock_api::RwLockWriteGuard::map).
///
/// ```
/// use atomsync::{MappedRwLockWriteGuard, RwLock, RwLockWriteGuard};
/// let lock = RwLock::new((1, 2));
/// let mut second: MappedRwLockWriteGuard<'_, i32> = RwLockWriteGuard::map(lock.write(), |pair| &mut pair.1);
/// *second += 1;
/// drop(second);
/// assert_eq!(*lock.read(), (1, 3));
/// ```
#[cfg(not(loom))]
pub type MappedRwLockWriteGuard<'a, T> = lock_api::MappedRwLockWriteGuard<'a, RawRwLock, T>;

/// A read guard that owns an `Arc` of its [`RwLock`], from
/// [`RwLock::read_arc`](lock_api::RwLock::read_arc).
///
/// ```
/// use std::sync::Arc;
/// let lock = Arc::new(atomsync::RwLock::new(1));
/// let guard: atomsync::ArcRwLockReadGuard<i32> = lock.read_arc();
/// std::thread::spawn(move || assert_eq!(*guard, 1)).join().unwrap();
/// ```
#[cfg(not(loom))]
pub type ArcRwLockReadGuard<T> = lock_api::ArcRwLockReadGuard<RawRwLock, T>;

/// A write guard that owns an `Arc` of its [`RwLock`], from
/// [`RwLock::write_arc`](lock_api::RwLock::write_arc).
///
/// ```
/// use std::sync::Arc;
/// let lock = Arc::new(atomsync::RwLock::new(1));
/// let mut guard: atomsync::ArcRwLockWriteGuard<i32> = lock.write_arc();
/// *guard = 2;
/// drop(guard);
/// assert_eq!(*lock.read(), 2);
/// ```
#[cfg(not(loom))]
pub type ArcRwLockWriteGuard<T> = lock_api::ArcRwLockWriteGuard<RawRwLock, T>;

/// An upgradable read guard that owns an `Arc` of its [`RwLock`], from
/// [`RwLock::upgradable_read_arc`](lock_api::RwLock::upgradable_read_arc).
///
/// ```
/// use std::sync::Arc;
/// let lock = Arc::new(atomsync::RwLock::new(1));
/// let guard: atomsync::ArcRwLockUpgradableReadGuard<i32> = lock.upgradable_read_arc();
/// assert_eq!(*guard, 1);
/// ```
#[cfg(not(loom))]
pub type ArcRwLockUpgradableReadGuard<T> = lock_api::ArcRwLockUpgradableReadGuard<RawRwLock, T>;

/// Creates an [`RwLock`] in a `const` context (same as `RwLock::new`).
///
/// ```
/// static TABLE: atomsync::RwLock<[u8; 4]> = atomsync::const_rwlock([0; 4]);
/// TABLE.write()[0] = 1;
/// assert_eq!(TABLE.read()[0], 1);
/// ```
#[cfg(not(loom))]
pub const fn const_rwlock<T>(value: T) -> RwLock<T> {
    RwLock::new(value)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn state_bits_do_not_overlap() {
        let flags = [HANDOFF, UPGRADABLE, UPGRADING, READERS_WAITING, WRITERS_WAITING];
        let all = flags.iter().fold(MASK, |acc, flag| {
            assert_eq!(acc & flag, 0);
            acc | flag
        });
        assert_eq!(all, u32::MAX);
    }

    #[test]
    fn uncontended_round_trips_leave_the_word_clear() {
        let raw = RawRwLock::new();
        raw.acquire_exclusive();
        // SAFETY: held.
        unsafe { raw.release_exclusive() };
        raw.acquire_shared();
        // SAFETY: held.
        unsafe { raw.release_shared() };
        raw.acquire_upgradable();
        // SAFETY: held; upgraded; downgraded; released.
        unsafe {
            raw.upgrade_to_exclusive();
            raw.downgrade_exclusive_to_upgradable();
            raw.downgrade_upgradable_to_shared();
            raw.release_shared();
        }
        assert_eq!(raw.state.load(Relaxed), 0);
    }

    #[test]
    fn too_many_readers_panics_and_leaves_the_count() {
        let raw = RawRwLock::new();
        raw.state.store(MAX_READERS, Relaxed);
        let result = std::panic::catch_unwind(|| raw.acquire_shared());
        let message = *result.unwrap_err().downcast::<&str>().unwrap();
        assert!(message.contains("too many read locks"), "{message}");
        assert!(std::panic::catch_unwind(|| raw.try_acquire_shared()).is_err());
        assert_eq!(raw.state.load(Relaxed), MAX_READERS);
        // One fewer: fine.
        raw.state.store(MAX_READERS - 1, Relaxed);
        assert!(raw.try_acquire_shared());
        assert_eq!(raw.state.load(Relaxed), MAX_READERS);
    }

    #[test]
    fn hand_off_without_sleepers_is_taken_back() {
        let raw = RawRwLock::new();
        raw.acquire_exclusive();
        // A reader and a writer that registered but timed out before sleeping.
        raw.state.fetch_or(READERS_WAITING | WRITERS_WAITING, Relaxed);
        // SAFETY: held.
        unsafe { raw.release_exclusive() };
        // The phantom read lock was taken back and released; WRITERS_WAITING was cleared by
        // that release, which woke (nobody on) writer_notify.
        assert_eq!(raw.state.load(Relaxed), 0);
        assert!(raw.try_acquire_exclusive());
    }
}
